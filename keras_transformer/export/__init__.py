"""SavedModels that take strings (text, or the bytes of image files);
TensorFlow only."""

from keras_transformer.export.image_classifier import ImageClassifier
from keras_transformer.export.text_generator import TextGenerator
from keras_transformer.export.translator import Translator

__all__ = ["ImageClassifier", "TextGenerator", "Translator"]
