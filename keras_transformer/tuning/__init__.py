"""Hyper-parameter search with keras-tuner: one `HyperModel` per model
family, each with a documented default search space that a dictionary
of fixed values, choices or `Range`s overrides."""

from keras_transformer.tuning.hypermodels import GPTHyperModel
from keras_transformer.tuning.hypermodels import TransformerHyperModel
from keras_transformer.tuning.hypermodels import VisionTransformerHyperModel
from keras_transformer.tuning.space import Range

__all__ = [
    "GPTHyperModel",
    "Range",
    "TransformerHyperModel",
    "VisionTransformerHyperModel",
]
