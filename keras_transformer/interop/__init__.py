"""Converters from keras-hub's GPT-2 and ViT to `GPT` and
`VisionTransformer`, with the weights.

keras-hub is optional: it is imported when a converter is called. Both
sides keep their weights in Keras layers, so a conversion copies arrays
by their paths (`transformer_layer_3/self_attention/query/kernel` ->
`decoder_layer_3/self_attention/query/kernel`). Some are reshaped: the
attention projections (keras-hub's `EinsumDense` kernels `(d_model,
heads, d_k)` and `(heads, d_k, d_model)` are our `Dense` kernels
`(d_model, heads * d_k)` and `(heads * d_k, d_model)`, the same numbers
in the same order), and ViT's patch convolution and class token. Every
weight of the source must land on one weight of ours with the same
shape, and every weight of ours must be filled, or the conversion fails
naming the weight.
"""

from keras_transformer.interop.keras_hub_gpt2 import gpt_from_keras_hub
from keras_transformer.interop.keras_hub_vit import (
    vision_transformer_from_keras_hub,
)

__all__ = [
    "gpt_from_keras_hub",
    "vision_transformer_from_keras_hub",
]
