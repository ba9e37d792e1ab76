"""Quantized presets: what a preset records about its quantization, and who may read it.

Keras quantizes the weights in place (`model.quantize("int8")`), and keras-hub saves
the quantized layers' dtype policies in `config.json` (a `DTypePolicyMap`), so
`from_preset` rebuilds them. keras_pn adds a `keras_pn` entry to `metadata.json`:
the quantization mode and the oldest keras_pn that can read the preset. A loader
older than that refuses the preset with the fix (upgrade) instead of failing later.

>>> import pathlib, tempfile, json
>>> preset = pathlib.Path(tempfile.mkdtemp())
>>> _ = (preset / "metadata.json").write_text("{}")
>>> record_quantization(preset, "int8")["keras_pn"]["quantization"]
'int8'
>>> check_preset_readable(preset)  # this keras_pn reads it
>>> _ = (preset / "metadata.json").write_text(
...     json.dumps({"keras_pn": {"min_keras_pn_version": "99.0"}}))
>>> check_preset_readable(preset)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_pn.presets.PresetError: ...upgrade keras_pn to >= 99.0...
"""

import os

from keras_pn.file_io import atomic_write_json
from keras_pn.presets import METADATA_FILE
from keras_pn.presets import load_config
from keras_pn.presets import PresetError

METADATA_KEY = "keras_pn"
# The first keras_pn version that reads quantized presets (and checks this record).
QUANTIZED_PRESET_MIN_VERSION = "0.1.0"
QUANTIZATION_MODES = ("int8",)


def quantization_mode(model):
    """The quantization mode of a model's layers (`"int8"`), or `None` if none is."""
    modes = {
        layer.quantization_mode
        for layer in model._flatten_layers()
        if getattr(layer, "quantization_mode", None) is not None
    }
    if len(modes) > 1:
        raise ValueError(f"The model mixes quantization modes {sorted(modes)}.")
    return modes.pop() if modes else None


def check_quantization_mode(mode):
    if mode not in QUANTIZATION_MODES:
        raise ValueError(
            f"Unsupported quantization {mode!r}. Fix: use one of "
            f"{', '.join(QUANTIZATION_MODES)} (int4 and float8 are not checked "
            "at this model size)."
        )


def _read_metadata(preset_dir):
    """`(path, metadata)` of a preset's `metadata.json` (`{}` when it has none)."""
    path = os.path.join(preset_dir, METADATA_FILE)
    if not os.path.isfile(path):
        return path, {}
    return path, load_config(preset_dir, METADATA_FILE)


def record_quantization(preset_dir, mode):
    """Adds the `keras_pn` record of a preset saved with quantized weights."""
    path, metadata = _read_metadata(preset_dir)
    metadata[METADATA_KEY] = {
        "quantization": mode,
        "min_keras_pn_version": QUANTIZED_PRESET_MIN_VERSION,
    }
    atomic_write_json(path, metadata, indent=4)
    return metadata


def preset_quantization(preset_dir):
    """The quantization a preset records (`"int8"`), or `None`."""
    return _read_metadata(preset_dir)[1].get(METADATA_KEY, {}).get("quantization")


def check_preset_readable(preset_dir):
    """Refuses a preset whose `metadata.json` asks for a newer keras_pn than this one."""
    from packaging.version import InvalidVersion
    from packaging.version import Version

    import keras_pn

    path, metadata = _read_metadata(preset_dir)
    record = metadata.get(METADATA_KEY)
    if not isinstance(record, dict) or "min_keras_pn_version" not in record:
        return
    required = str(record["min_keras_pn_version"])
    try:
        too_old = Version(keras_pn.__version__) < Version(required)
    except InvalidVersion:
        raise PresetError(
            f"'{path}' asks for keras_pn version {required!r}, which is not a version "
            "number. Fix: save the preset again with `save_to_preset()`."
        ) from None
    if too_old:
        what = record.get("quantization")
        raise PresetError(
            f"Preset '{preset_dir}' needs keras_pn >= {required}"
            + (f" (it holds {what} weights)" if what else "")
            + f"; this is keras_pn {keras_pn.__version__}. Fix: upgrade keras_pn "
            f"to >= {required} (`pip install -U keras-pn`)."
        )
