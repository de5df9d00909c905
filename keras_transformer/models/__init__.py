"""Models assembled from `keras_transformer.layers`."""

from keras_transformer.models.gpt import GPT
from keras_transformer.models.transformer import Transformer
from keras_transformer.models.vision_transformer import VisionTransformer
from keras_transformer.models.vqvae import VQVAE

__all__ = ["GPT", "Transformer", "VQVAE", "VisionTransformer"]
