"""String-in/string-out SavedModels (TensorFlow only)."""

from keras_transformer.export.text_generator import TextGenerator
from keras_transformer.export.translator import Translator

__all__ = ["TextGenerator", "Translator"]
