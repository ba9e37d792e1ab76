"""keras-hub style models: backbones, tasks, preprocessors, tokenizers."""

from keras_pn.models.gpt.gpt_backbone import GPTBackbone
from keras_pn.models.gpt.gpt_byte_tokenizer import GPTByteTokenizer
from keras_pn.models.gpt.gpt_causal_lm import GPTCausalLM
from keras_pn.models.gpt.gpt_causal_lm_preprocessor import GPTCausalLMPreprocessor
from keras_pn.models.gpt.gpt_tokenizer import GPTTokenizer
from keras_pn.models.projected_gpt.projected_gpt import ProjectedGPT
from keras_pn.models.projected_gpt.projected_gpt_backbone import ProjectedGPTBackbone
from keras_pn.models.projected_gpt.projected_gpt_causal_lm_preprocessor import (
    ProjectedGPTCausalLMPreprocessor,
)
from keras_pn.presets import register_builtin_presets

register_builtin_presets(GPTBackbone)
register_builtin_presets(ProjectedGPTBackbone)

__all__ = [
    "GPTBackbone",
    "GPTByteTokenizer",
    "GPTCausalLM",
    "GPTCausalLMPreprocessor",
    "GPTTokenizer",
    "ProjectedGPT",
    "ProjectedGPTBackbone",
    "ProjectedGPTCausalLMPreprocessor",
]
