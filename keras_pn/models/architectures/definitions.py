"""Write the architecture presets (configs only, no weights).

Paper sizes follow Grangier et al. (2024), Table 1: SLM 7 layers, width 1024,
MLP 4096, 8 heads (126M); LLM width 2816, MLP 11264, 22 heads (771M);
PN: 32 experts over the SLM with `h = m = k` and the MLPs of 5 of the 7
blocks projected (our reading of the paper's 1,422M parameters; the first
and last blocks stay shared). Tiny sizes are CPU-scale analogues (the tiny
LLM is about 3x the tiny SLM; PN projects all but the first and last blocks).
Vocabulary: 32k (paper) or 4k (tiny) SentencePiece.

Usage:
    python -m keras_pn.models.architectures.definitions
"""

import datetime
import pathlib

import keras

from keras_pn.file_io import atomic_write_json

SLM_PAPER = dict(
    vocabulary_size=32000,
    num_layers=7,
    num_heads=8,
    hidden_dim=1024,
    intermediate_dim=4096,
    max_sequence_length=1024,
)
LLM_PAPER = dict(SLM_PAPER, num_heads=22, hidden_dim=2816, intermediate_dim=11264)
PN_PAPER = dict(SLM_PAPER, num_experts=32, projected_layers=[1, 2, 3, 4, 5])

SLM_TINY = dict(
    vocabulary_size=4096,
    num_layers=4,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    max_sequence_length=256,
)
LLM_TINY = dict(SLM_TINY, hidden_dim=256, intermediate_dim=1024)
PN_TINY = dict(SLM_TINY, num_experts=32, projected_layers=[1, 2])

ARCHITECTURES = {
    "slm_tiny": ("GPTBackbone", SLM_TINY, "Tiny SLM for CPU tests and demos."),
    "llm_tiny": ("GPTBackbone", LLM_TINY, "Tiny LLM (about 3x slm_tiny; the paper's LLM is 6x its SLM)."),
    "pn_tiny": (
        "ProjectedGPTBackbone",
        PN_TINY,
        "Tiny projected network: 32 experts over slm_tiny.",
    ),
    "slm_paper": ("GPTBackbone", SLM_PAPER, "The paper's SLM (126M)."),
    "llm_paper": ("GPTBackbone", LLM_PAPER, "The paper's LLM (771M)."),
    "pn_paper": (
        "ProjectedGPTBackbone",
        PN_PAPER,
        "The paper's SLM-pn: 32 experts over slm_paper (1,422M; 126M per expert).",
    ),
}


def serialized_config(class_name, config):
    """keras-hub's `config.json` for a backbone, without building it."""
    from keras_pn import models

    cls = getattr(models, class_name)
    full = {"name": _snake(class_name), "trainable": True, "dtype": _policy()}
    full.update(config)
    return {
        "module": cls.__module__,
        "class_name": class_name,
        "config": full,
        "registered_name": keras.saving.get_registered_name(cls),
    }


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _policy():
    return keras.dtype_policies.serialize(keras.dtype_policies.DTypePolicy("float32"))


def count_parameters(class_name, config):
    """Parameter count of the architecture, from the built model (bfloat16)."""
    from keras_pn import models

    cls = getattr(models, class_name)
    return int(cls(**config, dtype="bfloat16").count_params())


def write_presets(root=None, names=None):
    """Write `<root>/<name>/{config,metadata}.json` for each architecture."""
    root = pathlib.Path(root or pathlib.Path(__file__).parent)
    for name, (class_name, config, description) in ARCHITECTURES.items():
        if names and name not in names:
            continue
        preset_dir = root / name
        metadata = {
            "keras_version": keras.version(),
            "keras_hub_version": __import__("keras_hub").__version__,
            "parameter_count": count_parameters(class_name, config),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "tasks": ["CausalLM"],
            "description": description,
        }
        atomic_write_json(
            preset_dir / "config.json", serialized_config(class_name, config), indent=4
        )
        atomic_write_json(preset_dir / "metadata.json", metadata, indent=4)
        print(f"{name}: {metadata['parameter_count']:,} parameters -> {preset_dir}")


if __name__ == "__main__":
    write_presets()
