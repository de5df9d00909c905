"""Character-level tokenizer: one id per Unicode character."""

import json
import pathlib

import tensorflow as tf
import tensorflow_text as tf_text

from keras_transformer.text._inputs import id_batch
from keras_transformer.text._inputs import string_batch

CHARACTERS_FILE = "characters.json"


class CharTokenizer(tf.Module):
    """Strings to character ids and back, inside a TensorFlow graph.

    The vocabulary is a list of characters (`from_text` takes the sorted
    distinct characters of a corpus, as char-rnn and nanoGPT do); id `i`
    is `characters[i]`. Strings are split into Unicode characters with
    tensorflow-text's `UnicodeCharTokenizer`, so "é" is one token, not
    two bytes. There are no reserved tokens: every id is a character.

    A character outside the vocabulary is an error in `tokenize` (the
    message lists them); inside a traced graph, such as an exported
    SavedModel, where no error can name them, it is dropped. Being a
    `tf.Module`, the tokenizer can be saved inside a SavedModel.

    Args:
        characters: a string or list of single characters (no repeats).
            `load` reads the `characters.json` that `save` writes.
        name: optional module name.

    Example:

    >>> tokenizer = CharTokenizer.from_text("to be or not to be")
    >>> tokenizer.characters
    [' ', 'b', 'e', 'n', 'o', 'r', 't']
    >>> tokenizer.tokenize(["not to"]).to_list()
    [[3, 4, 6, 0, 6, 4]]
    >>> tokenizer.detokenize([[1, 2]]).numpy().tolist()
    [b'be']
    """

    def __init__(self, characters, name=None):
        super().__init__(name=name)
        characters = list(characters)
        if not characters:
            raise ValueError("The vocabulary is empty: give some characters.")
        for c in characters:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(
                    "Each vocabulary entry must be one character. "
                    f"Received: {c!r}"
                )
        if len(set(characters)) != len(characters):
            raise ValueError("The vocabulary has repeated characters.")
        # A string: a tf.Module would wrap a list attribute.
        self._characters = "".join(characters)
        codepoints = [ord(c) for c in characters]
        self._codepoints = tf.constant(codepoints, tf.int32)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(codepoints, tf.int64),
                tf.range(len(codepoints), dtype=tf.int64),
            ),
            default_value=-1,
        )
        self._splitter = tf_text.UnicodeCharTokenizer()

    @classmethod
    def from_text(cls, text, name=None):
        """The tokenizer of the sorted distinct characters of `text`."""
        if not isinstance(text, str) or not text:
            raise ValueError(
                "`from_text` takes a non-empty string. "
                f"Received: {type(text).__name__}"
            )
        return cls(sorted(set(text)), name=name)

    @property
    def characters(self):
        """The vocabulary: character `i` has id `i`."""
        return list(self._characters)

    @property
    def vocab_size(self):
        return len(self._characters)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def _tokenize(self, strings):
        codepoints = self._splitter.tokenize(strings)
        ids = tf.ragged.map_flat_values(
            lambda t: self._table.lookup(tf.cast(t, tf.int64)), codepoints
        )
        known = tf.ragged.map_flat_values(lambda t: t >= 0, ids)
        return tf.ragged.boolean_mask(ids, known)

    def tokenize(self, strings):
        """A string or a batch of strings -> ragged int64 ids
        `(batch, None)`."""
        strings = string_batch(strings)
        ids = self._tokenize(strings)
        if tf.executing_eagerly():
            self._check_known(strings, ids)
        return ids

    def _check_known(self, strings, ids):
        lengths = tf.strings.length(strings, unit="UTF8_CHAR")
        if bool(tf.reduce_all(tf.cast(ids.row_lengths(), tf.int32) == lengths)):
            return
        known = set(self._characters)
        unknown = set()
        for i, raw in enumerate(strings.numpy()):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"String {i} is not valid UTF-8 ({e.reason} at byte "
                    f"{e.start})."
                ) from None
            unknown.update(c for c in text if c not in known)
        unknown = sorted(unknown)
        raise ValueError(
            f"Characters outside the vocabulary: {unknown}. The tokenizer "
            f"knows {self.vocab_size} characters: {self._characters!r}"
        )

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.int64)])
    def _detokenize(self, ids):
        codepoints = tf.ragged.map_flat_values(
            lambda t: tf.gather(self._codepoints, t), ids
        )
        return self._splitter.detokenize(codepoints)

    def detokenize(self, ids):
        """Ids `(batch, length)` (dense or ragged) or one row -> strings.
        Ids must be integers in `[0, vocab_size)`: eagerly, others are a
        `ValueError`; in a graph, an assert fails the call."""
        return self._detokenize(id_batch(ids, self.vocab_size))

    def id_to_token(self, ids):
        """The characters of `ids` (any shape, dense or ragged)."""
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self.id_to_token, ids)
        chars = tf.strings.unicode_encode(
            tf.gather(self._codepoints, tf.cast(ids, tf.int64))[..., None],
            "UTF-8",
        )
        return chars

    def get_config(self):
        return {}

    def save(self, directory):
        """Writes `characters.json` into `directory`."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CHARACTERS_FILE).write_text(
            json.dumps(self.characters, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory):
        """The tokenizer `save` wrote into `directory`."""
        path = pathlib.Path(directory) / CHARACTERS_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"No character tokenizer in {directory}: {CHARACTERS_FILE} "
                "is missing."
            )
        return cls(json.loads(path.read_text(encoding="utf-8")))
