"""The model an export starts from: a float `GPTCausalLM`, from memory or a preset."""

import json
import os

from keras_pn.export.errors import ExportError

PROJECTION_HINT = (
    "A projected network (ProjectedGPT) holds one expert per cluster and no export "
    "format carries its projection. Fix: project one expert into a plain GPT first: "
    "`keras_pn.models.ProjectedGPT.from_preset(PRESET).project(expert=i)` (or "
    "`project(histogram=p)`, see keras_pn/models/projected_gpt/projection.py) and "
    "`save_to_preset(DIR)`, or run `python -m recipes.specialize` for the domain, "
    "whose <workdir>/preset is a GPT; then export that preset."
)


def preset_backbone_class(preset_dir):
    """The registered class name in a preset's `config.json`, e.g. `keras_pn>GPTBackbone`."""
    path = os.path.join(preset_dir, "config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return config.get("registered_name") or config.get("class_name")


def load_causal_lm(model_or_preset):
    """Returns `(GPTCausalLM, preset_dir or None)`; refuses what cannot be exported.

    Args:
        model_or_preset: a `GPTCausalLM`, a preset directory or a built-in name.
    """
    from keras_pn.models import GPTBackbone
    from keras_pn.models import GPTCausalLM
    from keras_pn.presets import resolve_preset

    preset_dir = None
    if isinstance(model_or_preset, (str, os.PathLike)):
        preset_dir = resolve_preset(model_or_preset)
        name = preset_backbone_class(preset_dir) or ""
        if "Projected" in name or (name and not name.endswith("GPTBackbone")):
            raise ExportError(f"Preset '{model_or_preset}' is a {name}. {PROJECTION_HINT}")
        model = GPTCausalLM.from_preset(preset_dir)
    else:
        model = model_or_preset
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, GPTBackbone):
        raise ExportError(
            f"Cannot export a {type(model).__name__} with a "
            f"{type(backbone).__name__}. {PROJECTION_HINT}"
        )
    return model, preset_dir
