"""Transformer layers: attention, feed-forward, blocks, positions, masks,
and the vector quantizer that turns images into tokens."""

from keras_transformer.layers import masks
from keras_transformer.layers.cross_attention import CrossAttention
from keras_transformer.layers.decoder_layer import DecoderLayer
from keras_transformer.layers.dropout import Dropout
from keras_transformer.layers.encoder_layer import EncoderLayer
from keras_transformer.layers.feed_forward import FeedForward
from keras_transformer.layers.masks import look_ahead_mask
from keras_transformer.layers.masks import padding_mask
from keras_transformer.layers.multi_head_self_attention import (
    MultiHeadSelfAttention,
)
from keras_transformer.layers.patch_embedding import PatchEmbedding
from keras_transformer.layers.patch_position_embedding import (
    PatchPositionEmbedding,
)
from keras_transformer.layers.positional_encoding import PositionalEncoding
from keras_transformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from keras_transformer.layers.vector_quantizer import VectorQuantizer

__all__ = [
    "CrossAttention",
    "DecoderLayer",
    "Dropout",
    "EncoderLayer",
    "FeedForward",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PatchPositionEmbedding",
    "PositionalEncoding",
    "TokenAndPositionEmbedding",
    "VectorQuantizer",
    "look_ahead_mask",
    "masks",
    "padding_mask",
]
