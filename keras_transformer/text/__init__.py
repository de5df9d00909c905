"""Tokenizers built on tensorflow-text (TensorFlow only)."""

from keras_transformer.text.characters import CharTokenizer
from keras_transformer.text.wordpiece import END_ID
from keras_transformer.text.wordpiece import PAD_ID
from keras_transformer.text.wordpiece import RESERVED_TOKENS
from keras_transformer.text.wordpiece import START_ID
from keras_transformer.text.wordpiece import UNK_ID
from keras_transformer.text.wordpiece import WordPieceTokenizer
from keras_transformer.text.wordpiece import learn_vocabulary
from keras_transformer.text.wordpiece import normalize

__all__ = [
    "CharTokenizer",
    "END_ID",
    "PAD_ID",
    "RESERVED_TOKENS",
    "START_ID",
    "UNK_ID",
    "WordPieceTokenizer",
    "learn_vocabulary",
    "normalize",
]
