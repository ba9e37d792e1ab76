"""Keras layers of keras_pn (keras.ops only: they run on every backend)."""

from keras_pn.layers.causal_self_attention import CausalSelfAttention
from keras_pn.layers.expert_embedding import ExpertEmbedding
from keras_pn.layers.orthogonal_codes import OrthogonalCodes
from keras_pn.layers.projected_dense import ProjectedDense
from keras_pn.layers.transformer_decoder_block import TransformerDecoderBlock

__all__ = [
    "CausalSelfAttention",
    "ExpertEmbedding",
    "OrthogonalCodes",
    "ProjectedDense",
    "TransformerDecoderBlock",
]
