"""keras_transformer: Transformer building blocks and models for Keras 3."""

from keras_transformer import activations
from keras_transformer import layers
from keras_transformer import losses
from keras_transformer import metrics
from keras_transformer import models
from keras_transformer import optimizers
from keras_transformer import recipes
from keras_transformer import schedules

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "activations",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "recipes",
    "schedules",
]
