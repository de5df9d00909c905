"""String-in/string-out SavedModels (TensorFlow only)."""

from keras_transformer.export.translator import Translator

__all__ = ["Translator"]
