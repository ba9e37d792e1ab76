"""A `GPTCausalLM` as a Hugging Face `transformers` GPT-2 checkpoint.

keras_pn's GPT is GPT-2 shaped: learned positions, pre-norm blocks, the tanh GELU
(`gelu_new`), tied embeddings. The weights map one to one with no transposes
(GPT-2's `Conv1D` stores `(in, out)` like a Keras `Dense` kernel); GPT-2's
`c_attn` is the query, key and value kernels concatenated on the output axis.
The directory holds `model.safetensors`, `config.json`, `generation_config.json`
and the tokenizer, so `AutoModelForCausalLM.from_pretrained(dir)` and
`AutoTokenizer.from_pretrained(dir)` work offline (and vLLM can serve it).
"""

import json
import os

import keras
import numpy as np

from keras_pn.export.tokenizer_assets import special_ids
from keras_pn.export.tokenizer_assets import write_huggingface_tokenizer

WEIGHTS_FILE = "model.safetensors"


def _np(variable):
    return np.ascontiguousarray(keras.ops.convert_to_numpy(variable), "float32")


def _dense(layer):
    return _np(layer.kernel), _np(layer.bias)


def gpt2_state_dict(backbone):
    """`{GPT-2 parameter name: float32 array}` of a `GPTBackbone` (no `lm_head`: tied)."""
    state = {
        "transformer.wte.weight": _np(backbone.token_embedding.embeddings),
        "transformer.wpe.weight": _np(backbone.position_embedding.position_embeddings),
        "transformer.ln_f.weight": _np(backbone.layer_norm.gamma),
        "transformer.ln_f.bias": _np(backbone.layer_norm.beta),
    }
    for i, block in enumerate(backbone.transformer_layers):
        prefix = f"transformer.h.{i}."
        attention = block.attention
        qkv = [_dense(attention.query_dense), _dense(attention.key_dense), _dense(attention.value_dense)]
        state[prefix + "attn.c_attn.weight"] = np.concatenate([k for k, _ in qkv], axis=1)
        state[prefix + "attn.c_attn.bias"] = np.concatenate([b for _, b in qkv], axis=0)
        for name, layer in (
            ("attn.c_proj", attention.output_dense),
            ("mlp.c_fc", block.mlp_intermediate_dense),
            ("mlp.c_proj", block.mlp_output_dense),
        ):
            state[prefix + name + ".weight"], state[prefix + name + ".bias"] = _dense(layer)
        for name, norm in (("ln_1", block.attention_norm), ("ln_2", block.mlp_norm)):
            state[prefix + name + ".weight"] = _np(norm.gamma)
            state[prefix + name + ".bias"] = _np(norm.beta)
    return state


def gpt2_config(model):
    """The `transformers` `GPT2Config` dict of a `GPTCausalLM`."""
    backbone = model.backbone
    ids = special_ids(model)
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": backbone.vocabulary_size,
        "n_positions": backbone.max_sequence_length,
        "n_embd": backbone.hidden_dim,
        "n_layer": backbone.num_layers,
        "n_head": backbone.num_heads,
        "n_inner": backbone.intermediate_dim,
        "activation_function": "gelu_new",  # keras_pn: ops.gelu(approximate=True)
        "layer_norm_epsilon": backbone.layer_norm_epsilon,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": ids["start_token_id"],
        "eos_token_id": ids["end_token_id"],
        "pad_token_id": ids["pad_token_id"],
        "torch_dtype": "float32",
    }


def write_huggingface(model, directory):
    """Writes the checkpoint into `directory` (an existing staging directory)."""
    from safetensors.numpy import save_file

    save_file(
        gpt2_state_dict(model.backbone),
        os.path.join(directory, WEIGHTS_FILE),
        metadata={"format": "pt"},
    )
    config = gpt2_config(model)
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    generation = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    with open(os.path.join(directory, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump(generation, f, indent=2)
    write_huggingface_tokenizer(model, directory)
    return [WEIGHTS_FILE, "config.json", "generation_config.json"]
