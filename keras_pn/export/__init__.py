"""Deploy a small specialist: int8 and export to where small models run.

`export(model_or_preset, format, output_dir)` writes one directory:

| format   | files                                   | runtime checked                 |
|----------|-----------------------------------------|---------------------------------|
| `keras`  | a keras-hub preset (int8 with quantize) | keras_pn `from_preset`          |
| `hf`     | safetensors + config + tokenizer        | transformers `GPT2LMHeadModel`  |
| `onnx`   | `model.onnx` (the decode step)          | onnxruntime                     |
| `litert` | `model.tflite` (the decode step)        | ai-edge-litert `Interpreter`    |

Each also holds the SentencePiece model (`vocabulary.spm`) and `export.json`
(format, quantization, tokenizer ids, inputs; for onnx and litert the
`decode_step` graph's inputs, outputs and cache shape), written last. The ONNX and
LiteRT graphs are one decode step over a key/value cache
(`keras_pn.export.decode_step`); `keras_pn.export.runtimes.load_runtime(dir)` runs
them (`.logits(ids)`, `.generate(prompt_ids, n)`). GGUF is refused: see
`UNSUPPORTED_FORMATS`. `quantize="int8"`: Keras int8 weights (keras),
onnxruntime dynamic quantization (onnx), dynamic-range int8 (litert).

Example:
```python
from keras_pn.export import export
export("zoo/python/pn_tiny_python", "onnx", "out/onnx", quantize="int8")
```
"""

import datetime
from pathlib import Path

from keras_pn.export.decode_step import describe as describe_decode_step
from keras_pn.export.destination import check_destination
from keras_pn.export.destination import export_destination
from keras_pn.export.errors import ExportError
from keras_pn.export.huggingface import write_huggingface
from keras_pn.export.keras_preset import write_keras_preset
from keras_pn.export.litert import write_litert
from keras_pn.export.onnx import write_onnx
from keras_pn.export.runtimes import MANIFEST_FILE
from keras_pn.export.tensorflow_graph import GRAPH_FORMATS
from keras_pn.export.tokenizer_assets import write_tokenizer_assets
from keras_pn.file_io import atomic_write_json

_WRITERS = {
    "keras": write_keras_preset,
    "hf": lambda model, directory, quantize: write_huggingface(model, directory),
    "onnx": write_onnx,
    "litert": write_litert,
}
FORMATS = tuple(_WRITERS)
QUANTIZABLE_FORMATS = ("keras", "onnx", "litert")
UNSUPPORTED_FORMATS = {
    "gguf": (
        "GGUF (llama.cpp) is not exported: keras_pn checks every format in the runtime "
        "users run it in, and llama-cpp-python has no wheel here (building it from "
        "source took 28 minutes on 2 cores), so a GGUF file could not be checked. "
        "Fix: use --format=hf (llama.cpp's convert_hf_to_gguf.py reads a GPT-2 "
        "checkpoint; check its tokenizer there), or one of the formats: "
    ),
}
_INPUTS = {"hf": ["input_ids"], "keras": ["token_ids", "padding_mask"]}  # onnx, litert: decode_step


def check_request(export_format, quantize=None):
    """Refuses an unknown or unsupported format, or a quantization it cannot carry."""
    from keras_pn.models.quantization import check_quantization_mode

    if export_format in UNSUPPORTED_FORMATS:
        raise ExportError(UNSUPPORTED_FORMATS[export_format] + ", ".join(FORMATS) + ".")
    if export_format not in FORMATS:
        raise ExportError(
            f"Unknown export format {export_format!r}. Fix: use one of "
            f"{', '.join(FORMATS)}."
        )
    if quantize is None:
        return
    check_quantization_mode(quantize)
    if export_format not in QUANTIZABLE_FORMATS:
        raise ExportError(
            f"--format={export_format} carries float32 weights only (transformers loads "
            "no Keras int8 checkpoint). Fix: drop --quantize, or quantize with "
            f"--format={'|'.join(QUANTIZABLE_FORMATS)}."
        )


def export(model_or_preset, format, output_dir, *, quantize=None, overwrite=False):
    """Exports a GPT causal LM to `output_dir` in `format`.

    Args:
        model_or_preset: a `GPTCausalLM`, a preset directory or a built-in name.
            A `ProjectedGPT` is refused: project an expert first.
        format: one of `FORMATS`.
        output_dir: the directory to create; built in a staging sibling and
            renamed at the end, so it is complete or absent.
        quantize: `None` (float32) or `"int8"`.
        overwrite: replace an existing `output_dir` (only once the new export
            is complete).

    Returns:
        dict: the `export.json` manifest, plus `path`.
    """
    from keras_pn.export.source import load_causal_lm
    from keras_pn.models.quantization import quantization_mode
    from keras_pn.presets import resolve_preset

    check_request(format, quantize)
    source_dir = None
    if isinstance(model_or_preset, (str, Path)):
        source_dir = resolve_preset(model_or_preset)
    check_destination(output_dir, overwrite=overwrite, source_dir=source_dir)
    model, _ = load_causal_lm(model_or_preset)
    source_mode = quantization_mode(model.backbone)
    if source_mode is not None and format != "keras":
        raise ExportError(
            f"The model already holds {source_mode} Keras weights; --format={format} "
            "is exported from float32 weights. Fix: export the float32 preset, with "
            f"--quantize={source_mode} for {source_mode} weights in {format}."
        )
    import keras_pn

    with export_destination(output_dir, overwrite, source_dir) as staging:
        tokenizer = write_tokenizer_assets(model, staging)  # before hf's tokenizer files
        files = _WRITERS[format](model, staging, quantize)
        backbone = model.backbone
        graph = describe_decode_step(backbone) if format in GRAPH_FORMATS else None
        manifest = {
            "format": format,
            "quantization": quantize or source_mode,
            "files": files,
            "inputs": graph["inputs"] if graph else _INPUTS[format],
            "tokenizer": tokenizer,
            "vocabulary_size": backbone.vocabulary_size,
            "max_sequence_length": backbone.max_sequence_length,
            "source": str(source_dir) if source_dir else None,
            "keras_pn_version": keras_pn.__version__,
            "date": datetime.date.today().isoformat(),
        }
        if graph:
            manifest["decode_step"] = graph
        atomic_write_json(staging / MANIFEST_FILE, manifest, indent=2)
    return dict(manifest, path=str(output_dir))


__all__ = [
    "FORMATS",
    "QUANTIZABLE_FORMATS",
    "UNSUPPORTED_FORMATS",
    "ExportError",
    "check_request",
    "export",
]
