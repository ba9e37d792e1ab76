"""Preset resolution: local directories first, then built-in names; offline.

A preset is a directory in keras-hub's format: `config.json` (the backbone's
serialized config), `metadata.json`, and optionally `model.weights.h5`,
`tokenizer.json` + `assets/tokenizer/...`, `preprocessor.json`, `task.json`.

Built-in presets are directories shipped with the code, so nothing is ever
downloaded:
- architecture presets (`keras_pn/models/architectures/<name>/`): a config
  and metadata, no weights (`from_preset(name, load_weights=False)`);
- zoo presets (`zoo/<domain>/<name>/`): trained tiny models.

Unlike keras-hub, a local directory wins over a built-in name, so a folder
called `slm_tiny` in the working directory is never shadowed.
"""

import functools
import json
import os
import pathlib

import keras

from keras_pn.private_api import SafeModeScope
from keras_pn.private_api import get_preset_loader
from keras_pn.private_api import register_presets

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
SHARDED_WEIGHTS_FILE = "model.weights.json"
TOKENIZER_FILE = "tokenizer.json"

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
ARCHITECTURES_DIR = _PACKAGE_DIR / "models" / "architectures"
# Zoo roots: the directories in $KERAS_PN_ZOO (separated by os.pathsep), then
# the checkout's `zoo/` beside the package. A wheel does not carry the zoo (its
# weights stay in the repository): point KERAS_PN_ZOO at a checkout's `zoo/`,
# or pass a preset directory.
ZOO_ENV = "KERAS_PN_ZOO"
ZOO_DIRS = (_PACKAGE_DIR.parent / "zoo",)
# Modules whose registered classes a preset may name (Keras safe mode).
ALLOWED_MODULE_PREFIXES = ("keras.", "keras_hub.", "keras_pn.")


class PresetError(ValueError):
    """A preset is missing, incomplete or malformed; the message says how to fix it."""


def zoo_dirs():
    """The zoo roots searched for preset names, in order (see `ZOO_ENV`)."""
    extra = os.environ.get(ZOO_ENV, "").split(os.pathsep)
    return tuple(pathlib.Path(p).expanduser().resolve() for p in extra if p) + ZOO_DIRS


def builtin_presets():
    """Map every built-in preset name to its directory (first root wins)."""
    return _builtin_presets(zoo_dirs())


@functools.lru_cache(maxsize=None)
def _builtin_presets(zoo_roots):
    found = {}
    roots = [ARCHITECTURES_DIR] + [d for d in zoo_roots if d.is_dir()]
    for root in roots:
        for config_path in sorted(root.glob(f"**/{CONFIG_FILE}")):
            preset_dir = config_path.parent
            # Skip hidden folders inside the root (.ipynb_checkpoints, ...), not
            # hidden folders above it: a zoo under ~/.cache or a checkout under
            # ~/.local must still be found.
            if any(p.startswith(".") for p in preset_dir.relative_to(root).parts):
                continue
            found.setdefault(preset_dir.name, preset_dir)
    return found


def is_architecture_preset(path):
    """True for a shipped architecture preset (a config without weights)."""
    try:
        return pathlib.Path(path).resolve().parent == ARCHITECTURES_DIR
    except OSError:
        return False


def resolve_preset(preset):
    """Turn a preset name or directory into an absolute directory path.

    Args:
        preset: a local preset directory (checked first), a built-in preset
            name, or a remote handle (`kaggle://`, `hf://`, ...) which is
            passed through to keras-hub unchanged.

    Returns:
        str: the absolute directory (or the remote handle).

    Raises:
        PresetError: for an unknown name or a missing directory.
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or not preset:
        raise PresetError(
            "A preset must be a non-empty string: a local preset directory "
            f"or a built-in name. Received: {preset!r}."
        )
    if "://" in preset:
        return preset
    if os.path.isdir(preset):
        return os.path.abspath(preset)
    presets = builtin_presets()
    if preset in presets:
        return str(presets[preset])
    if os.sep in preset or preset.startswith("."):
        raise PresetError(
            f"Preset directory '{preset}' does not exist. Fix: pass the path "
            "of a directory written by `save_to_preset()`."
        )
    raise PresetError(
        f"Unknown preset '{preset}'. Built-in presets: "
        f"{', '.join(sorted(presets))}. Or pass the path of a local preset "
        "directory written by `save_to_preset()`. Zoo presets are found in "
        f"{', '.join(str(d) for d in zoo_dirs())}; set {ZOO_ENV} to a "
        "checkout's zoo/ (an installed wheel carries none)."
    )


def load_config(preset_dir, filename=CONFIG_FILE):
    """Read and validate one JSON file of a preset directory."""
    path = os.path.join(preset_dir, filename)
    if not os.path.isfile(path):
        raise PresetError(
            f"Preset directory '{preset_dir}' has no {filename}. Fix: pass a "
            "directory written by `save_to_preset()`."
        )
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PresetError(
            f"'{path}' is not valid JSON ({error}). The preset is corrupt: "
            "save it again with `save_to_preset()`."
        ) from None
    if not isinstance(config, dict):
        raise PresetError(f"'{path}' must hold a JSON object; the preset is corrupt.")
    check_safe_config(config, path)
    check_file_references(config, path)
    return config


def check_safe_config(config, path):
    """Refuse configs naming unregistered classes, foreign modules or lambdas.

    Presets are loaded in Keras safe mode; this check gives a clear error
    before Keras sees the config.
    """
    for node in _walk(config):
        class_name = node.get("class_name")
        if not isinstance(class_name, str):
            continue
        if class_name in ("Lambda", "function", "__lambda__") or node.get(
            "class_name"
        ) == "__lambda__":
            raise PresetError(
                f"'{path}' contains a {class_name} object, which would run "
                "arbitrary code; keras_pn refuses to load it."
            )
        module = node.get("module")
        registered = node.get("registered_name")
        if isinstance(module, str) and module.split(".")[0] == "keras_pn" and (
            not isinstance(registered, str)
            or keras.saving.get_registered_object(registered) is None
        ):
            raise PresetError(
                f"'{path}' names '{module}.{class_name}' (registered name "
                f"{registered!r}), which is not registered as a keras_pn class; "
                "refusing to load it. Fix: save the preset again "
                "with `save_to_preset()`."
            )
        if module is not None and not (
            module == "builtins"
            or module in ("keras", "keras_hub", "keras_pn")
            or module.startswith(ALLOWED_MODULE_PREFIXES)
        ):
            raise PresetError(
                f"'{path}' names class '{class_name}' from module '{module}', "
                "which is not a keras, keras_hub or keras_pn module; refusing "
                "to load it."
            )
        if (
            registered
            and ">" in registered
            and keras.saving.get_registered_object(registered) is None
        ):
            raise PresetError(
                f"'{path}' names class '{registered}', which is not registered "
                "with Keras; refusing to load it. Fix: import the package that "
                "defines it first (keras_pn classes register on `import keras_pn`)."
            )


# Config keys that name files a tokenizer reads. A preset's tokenizer files live in
# its own `assets/` directory; a path here could make loading read any file.
_FILE_KEYS = ("proto", "vocabulary", "merges", "spm_proto")


def check_file_references(config, path):
    """Refuse tokenizer file paths in a config that could escape the preset."""
    for node in _walk(config):
        config_file = node.get("config_file")
        if config_file is not None and (
            not isinstance(config_file, str)
            or os.path.basename(config_file) != config_file
            or config_file.startswith(".")
            or os.path.isabs(config_file)
        ):
            raise PresetError(
                f"'{path}' sets config_file={config_file!r}: tokenizer assets are "
                "looked up under a directory named after it, so a path there could "
                "read files outside the preset directory; refusing to load it. Fix: "
                "save the preset again with `save_to_preset()` (config_file is a "
                "plain name such as 'tokenizer.json')."
            )
        for key in _FILE_KEYS:
            if isinstance(node.get(key), str):
                raise PresetError(
                    f"'{path}' sets {key}={node[key]!r}: a file path, which could "
                    "read a file outside the preset directory; refusing to load it. "
                    "Preset tokenizers read their files from the preset's "
                    "assets/ directory. Fix: save the preset again with "
                    "`save_to_preset()` (it writes null here)."
                )


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def check_preset_dir(preset_dir, require_weights):
    """Validate a local preset directory before keras-hub loads it."""
    load_config(preset_dir, CONFIG_FILE)
    for optional in (TOKENIZER_FILE, "preprocessor.json", "task.json"):
        if os.path.exists(os.path.join(preset_dir, optional)):
            load_config(preset_dir, optional)
    check_asset_paths(preset_dir)
    if not require_weights:
        return
    has_weights = os.path.isfile(
        os.path.join(preset_dir, WEIGHTS_FILE)
    ) or os.path.isfile(os.path.join(preset_dir, SHARDED_WEIGHTS_FILE))
    if has_weights:
        weights = os.path.join(preset_dir, WEIGHTS_FILE)
        if os.path.isfile(weights):
            check_weights_file(weights)
        return
    name = os.path.basename(os.path.normpath(preset_dir))
    if is_architecture_preset(preset_dir):
        raise PresetError(
            f"'{name}' is an architecture preset: it has no trained weights. "
            f"Fix: call `from_preset('{name}', load_weights=False)` for a "
            "randomly initialized model, or load a trained preset from the zoo."
        )
    raise PresetError(
        f"Preset directory '{preset_dir}' has no {WEIGHTS_FILE}. Fix: pass "
        "`load_weights=False` for random weights, or save the model again with "
        "`save_to_preset()`."
    )


def check_asset_paths(preset_dir):
    """Refuse files of the preset (assets, weights, configs) that point outside it."""
    root = os.path.realpath(preset_dir)
    for dirpath, dirnames, filenames in os.walk(preset_dir):
        for entry in dirnames + filenames:
            real = os.path.realpath(os.path.join(dirpath, entry))
            if os.path.commonpath([root, real]) != root:
                raise PresetError(
                    f"'{os.path.join(dirpath, entry)}' points outside "
                    f"the preset directory '{preset_dir}' (to '{real}'); "
                    "refusing to load it. Fix: copy the file into the preset "
                    "instead of linking to it."
                )


def check_weights_file(weights_path):
    """Open an HDF5 weights file once; a corrupt file raises naming it."""
    import h5py

    try:
        with h5py.File(weights_path, "r") as f:
            f.keys()
    except (OSError, ValueError) as error:
        raise PresetError(
            f"Weights file '{weights_path}' is corrupt or not HDF5 ({error}). "
            "Fix: save the preset again with `save_to_preset()`."
        ) from None


def load_from_preset(cls, parent_from_preset, preset, *args, **kwargs):
    """Resolve and check `preset`, then call keras-hub's `from_preset`.

    Args:
        cls: the keras_pn class `from_preset` was called on.
        parent_from_preset: the keras-hub `from_preset` bound to `cls`.
        preset: a local directory, a built-in name or a remote handle.
    """
    from keras_hub.models import Backbone
    from keras_hub.models import Task
    from keras_hub.tokenizers import Tokenizer

    path = resolve_preset(preset)
    is_model = issubclass(cls, (Backbone, Task))
    load_weights = kwargs.get("load_weights", args[0] if args and is_model else True)
    if "://" not in path:
        check_preset_dir(path, require_weights=is_model and load_weights)
        from keras_pn.models.quantization import check_preset_readable

        check_preset_readable(path)  # a preset written by a newer keras_pn (e.g. int8)
        if (
            issubclass(cls, Task)
            and "preprocessor" not in kwargs
            and not os.path.exists(os.path.join(path, TOKENIZER_FILE))
            and not os.path.exists(os.path.join(path, "preprocessor.json"))
        ):
            # Architecture presets carry no tokenizer.
            kwargs["preprocessor"] = None
    if issubclass(cls, Tokenizer):
        with SafeModeScope(True):
            return _load_tokenizer(cls, path, *args, **kwargs)
    if issubclass(cls, Task) and "backbone" not in kwargs:
        overrides = _backbone_overrides(cls, kwargs)
        if overrides:
            # keras-hub's task loader forwards only `dtype` to the backbone;
            # architecture overrides (e.g. `vocabulary_size=`) go there too.
            kwargs["backbone"] = cls.backbone_cls.from_preset(
                path, load_weights=load_weights, **overrides
            )
    try:
        # Keras safe mode even if the caller enabled unsafe deserialization
        # globally: a preset never runs code stored in it (no lambdas).
        with SafeModeScope(True):
            return parent_from_preset(path, *args, **kwargs)
    except (OSError, ValueError) as error:
        if isinstance(error, PresetError):
            raise
        message = str(error)
        keywords = ("Unable to", "h5", "variables", "shape")
        if any(keyword in message for keyword in keywords):
            raise PresetError(
                f"Could not load preset '{preset}': {message}. The weights in "
                f"'{os.path.join(path, WEIGHTS_FILE)}' are corrupt or do not "
                "match config.json; save the preset again."
            ) from error
        raise


class PresetMixin:
    """`from_preset` that checks local directories first and fails clearly.

    Mixed into keras_pn's Backbone, Preprocessor and Tokenizer classes in
    front of the keras-hub base class. (Tasks get `from_preset` from
    `keras_pn.models.causal_lm.CausalLM` instead: keras-hub's preset metadata
    lists a task by the name of its first base class.)
    """

    @classmethod
    def from_preset(cls, preset, *args, **kwargs):
        return load_from_preset(cls, super().from_preset, preset, *args, **kwargs)


def _backbone_overrides(task_cls, kwargs):
    """Pop the kwargs of `from_preset` that configure the task's backbone."""
    import inspect

    backbone_cls = getattr(task_cls, "backbone_cls", None)
    if backbone_cls is None:
        return {}
    names = set(inspect.signature(backbone_cls.__init__).parameters) - {
        "self",
        "kwargs",
        "args",
    }
    return {name: kwargs.pop(name) for name in list(kwargs) if name in names}


def _load_tokenizer(cls, path, config_file=TOKENIZER_FILE, **kwargs):
    """Load whichever tokenizer class `tokenizer.json` names; check the type."""
    loader = get_preset_loader(path)
    tokenizer = loader.load_tokenizer(cls, config_file, **kwargs)
    if not isinstance(tokenizer, cls):
        raise PresetError(
            f"Preset '{path}' holds a {type(tokenizer).__name__}, not a "
            f"{cls.__name__}. Fix: call "
            f"`{type(tokenizer).__name__}.from_preset(...)`."
        )
    return tokenizer


def register_builtin_presets(backbone_cls):
    """Register built-in presets of `backbone_cls` with keras-hub's registry.

    Afterwards `cls.presets` lists them and keras-hub's own
    `keras_hub.models.CausalLM.from_preset(name)` resolves them offline.
    """
    registered_name = keras.saving.get_registered_name(backbone_cls)
    presets = {}
    for name, preset_dir in builtin_presets().items():
        try:
            with open(preset_dir / CONFIG_FILE, encoding="utf-8") as f:
                config = json.load(f)
            with open(preset_dir / METADATA_FILE, encoding="utf-8") as f:
                metadata = json.load(f)
        except (OSError, json.JSONDecodeError):
            continue
        if config.get("registered_name") != registered_name:
            continue
        presets[name] = {
            "metadata": {
                "description": metadata.get("description", ""),
                "params": metadata.get("parameter_count"),
                "path": str(preset_dir),
            },
            "kaggle_handle": str(preset_dir),
        }
    register_presets(presets, backbone_cls)
