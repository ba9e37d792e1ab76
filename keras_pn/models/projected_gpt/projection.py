"""Closed-form instantiation of one expert of a projected network as a plain GPT."""

import keras
import numpy as np

from keras_pn.layers import ProjectedDense
from keras_pn.models.gpt.gpt_backbone import GPTBackbone


def _numpy(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), "float64")


def expert_code(backbone, expert=None, histogram=None):
    """The expert code as float64 numpy: `E[expert]` or `p @ E`."""
    from keras_pn.models.projected_gpt.projected_gpt_backbone import (
        validate_expert,
        validate_histogram,
    )

    table = _numpy(backbone.expert_embedding.embeddings)
    if (expert is None) == (histogram is None):
        raise ValueError("Pass exactly one of `expert=` or `histogram=`.")
    if histogram is not None:
        return validate_histogram(histogram, backbone.num_experts).astype("float64") @ table
    return table[validate_expert(expert, backbone.num_experts)]


def projected_weights(layer, code):
    """`[kernel, bias]` of a `ProjectedDense` for one code, in float64."""
    mixing = _numpy(layer.mixing)
    alpha = code @ mixing  # (h,)
    kernel = _numpy(layer.kernel_bases) @ alpha  # (i, o)
    weights = [kernel]
    if layer.bias_bases is not None:
        weights.append(_numpy(layer.bias_bases) @ alpha)
    return weights


def _copy_layer(source, target, code):
    if isinstance(source, ProjectedDense):
        weights = projected_weights(source, code)
    else:
        weights = [_numpy(w) for w in source.weights]
    target.set_weights([w.astype(t.dtype) for w, t in zip(weights, target.get_weights())])


def project_backbone(backbone, expert=None, histogram=None):
    """Instantiate one expert (or a histogram's soft expert) as a `GPTBackbone`.

    Every projected matrix becomes `W = sum_r alpha[r] T[:, :, r]` with
    `alpha = code @ M`; shared weights are copied. The result has no projected
    layer left: an SLM's parameters and inference cost.

    Args:
        backbone: a `ProjectedGPTBackbone`.
        expert: int, the expert (cluster) to export.
        histogram: `(num_experts,)` cluster histogram for the soft projection
            `alpha = sum_c p[c] E[c] M`.

    Returns:
        A `GPTBackbone` with the same sizes.
    """
    code = expert_code(backbone, expert=expert, histogram=histogram)
    config = backbone.get_config()
    gpt = GPTBackbone(
        **{key: config[key] for key in GPTBackbone.config_keys},
        dtype=backbone.dtype_policy,
    )
    pairs = [
        (backbone.token_embedding, gpt.token_embedding),
        (backbone.position_embedding, gpt.position_embedding),
        (backbone.layer_norm, gpt.layer_norm),
    ]
    for source, target in zip(backbone.transformer_layers, gpt.transformer_layers):
        pairs += [
            (source.attention_norm, target.attention_norm),
            (source.mlp_norm, target.mlp_norm),
            (source.attention.query_dense, target.attention.query_dense),
            (source.attention.key_dense, target.attention.key_dense),
            (source.attention.value_dense, target.attention.value_dense),
            (source.attention.output_dense, target.attention.output_dense),
            (source.mlp_intermediate_dense, target.mlp_intermediate_dense),
            (source.mlp_output_dense, target.mlp_output_dense),
        ]
    for source, target in pairs:
        _copy_layer(source, target, code)
    return gpt
