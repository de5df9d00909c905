"""A WordPiece tokenizer on tensorflow-text that runs inside a graph."""

import json
import pathlib

import tensorflow as tf
import tensorflow_text as tf_text

from keras_transformer.text._inputs import id_batch
from keras_transformer.text._inputs import string_batch

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
RESERVED_TOKENS = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3

# Detokenized text is words joined by spaces ("a man ' s hat ."); these
# rules glue punctuation back the way it is written ("a man's hat.").
_CLEANUP = (
    (r" ([.,!?;:%)\]])", r"\1"),
    (r"([(\[]) ", r"\1"),
    (r"(\S) ' (\S)", r"\1'\2"),
    (r"(\S) - (\S)", r"\1-\2"),
)

VOCABULARY_FILE = "vocabulary.txt"
CONFIG_FILE = "tokenizer.json"


def normalize(strings, lower_case=True):
    """Unicode NFC, and lower case (Unicode-aware; accents, umlauts and
    "ß" are kept) when `lower_case`."""
    strings = tf_text.normalize_utf8(strings, "NFC")
    if lower_case:
        strings = tf.strings.lower(strings, encoding="utf-8")
    return strings


def learn_vocabulary(
    texts, vocab_size, lower_case=True, batch_size=1024, verbose=True
):
    """Learns a WordPiece vocabulary with tensorflow-text's own tool.

    Words are split as `WordPieceTokenizer` splits them (whitespace and
    punctuation, after `normalize`), counted with a progress bar, then
    handed to tensorflow-text's WordPiece learner.

    Args:
        texts: a `tf.data.Dataset` of scalar strings, or a list of strings.
        vocab_size: int. Target vocabulary size, reserved tokens
            included. The learner's result can differ by a few tokens, and
            is smaller when the text is small: pieces seen fewer than 10
            times are not learned (Multi30k with 8000 gives about 3,500
            German and 2,900 English tokens).
        lower_case: bool. Case-fold before splitting.
        batch_size: int. Sentences split per step.
        verbose: bool. Show progress.

    Returns:
        The vocabulary: a list of strings starting with the reserved tokens
        `[PAD]`, `[UNK]`, `[START]`, `[END]`.
    """
    import keras
    from tensorflow_text.tools.wordpiece_vocab import (
        wordpiece_tokenizer_learner_lib as learner,
    )

    if not isinstance(vocab_size, int) or vocab_size <= len(RESERVED_TOKENS):
        raise ValueError(
            f"`vocab_size` must be an int > {len(RESERVED_TOKENS)}. "
            f"Received: vocab_size={vocab_size!r}"
        )
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(list(texts))
    if texts.element_spec != tf.TensorSpec((), tf.string):
        raise ValueError(
            "`texts` must hold scalar strings. Received element spec: "
            f"{texts.element_spec}"
        )
    splitter = tf_text.BertTokenizer(
        tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                ["[UNK]"], [0], key_dtype=tf.string, value_dtype=tf.int64
            ),
            num_oov_buckets=1,
        ),
        lower_case=False,
    )._basic_tokenizer
    words = texts.batch(batch_size).map(
        lambda s: splitter.tokenize(normalize(s, lower_case)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    total = int(texts.cardinality())
    steps = -(-total // batch_size) if total > 0 else None
    progress = keras.utils.Progbar(
        steps, verbose=1 if verbose else 0, unit_name="batch"
    )

    def with_progress():
        for i, batch in enumerate(words, 1):
            progress.update(i)
            yield batch.flat_values.numpy()

    counts = learner.count_words(with_progress())
    if verbose:
        print(f"{len(counts):,} distinct words; learning {vocab_size} pieces")
    vocabulary = learner.learn(counts, vocab_size, list(RESERVED_TOKENS))
    return list(vocabulary)


class WordPieceTokenizer(tf.Module):
    """Strings to WordPiece ids and back, inside a TensorFlow graph.

    Text is normalized (`normalize`), split on whitespace and punctuation,
    and each word is split into the longest pieces of the vocabulary
    (`##` marks a piece that continues a word). `tokenize` adds `[START]`
    and `[END]`; `detokenize` drops every reserved token, joins the pieces
    and glues punctuation back ("a man's hat."). Being a `tf.Module`, it
    can be saved inside a SavedModel.

    Args:
        vocabulary: list of strings (the first four are `[PAD]`, `[UNK]`,
            `[START]`, `[END]`), or a path to a file with one per line.
        lower_case: bool. Case-fold the input. Defaults to `True`.
        name: optional module name.

    Example:

    >>> tokenizer = WordPieceTokenizer(
    ...     ["[PAD]", "[UNK]", "[START]", "[END]", "a", "man", "'", "s",
    ...      ".", "hat", "##s"])
    >>> ids = tokenizer.tokenize(["A man's hats."])
    >>> ids.to_list()
    [[2, 4, 5, 6, 7, 9, 10, 8, 3]]
    >>> tokenizer.detokenize(ids).numpy().tolist()
    [b"a man's hats."]
    """

    def __init__(self, vocabulary, lower_case=True, name=None):
        super().__init__(name=name)
        if isinstance(vocabulary, (str, pathlib.Path)):
            path = pathlib.Path(vocabulary)
            vocabulary = path.read_text(encoding="utf-8").splitlines()
        vocabulary = [str(token) for token in vocabulary]
        if tuple(vocabulary[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                f"The vocabulary must start with {list(RESERVED_TOKENS)}. "
                f"Received: {vocabulary[: len(RESERVED_TOKENS)]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("The vocabulary has duplicate tokens.")
        self.vocabulary = vocabulary
        self.lower_case = bool(lower_case)
        self._table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                vocabulary,
                tf.range(len(vocabulary), dtype=tf.int64),
                key_dtype=tf.string,
                value_dtype=tf.int64,
            ),
            num_oov_buckets=1,
        )
        self._tokens = tf.constant(vocabulary)
        self._bert = tf_text.BertTokenizer(
            self._table, lower_case=False, unknown_token=UNK
        )

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def _tokenize(self, strings):
        pieces = self._bert.tokenize(normalize(strings, self.lower_case))
        ids = pieces.merge_dims(-2, -1)
        # Out-of-vocabulary pieces land in the extra bucket: map to [UNK].
        ids = tf.ragged.map_flat_values(
            lambda t: tf.where(
                t >= self.vocab_size, tf.constant(UNK_ID, tf.int64), t
            ),
            ids,
        )
        batch = tf.shape(strings, out_type=tf.int64)[0]
        start = tf.fill([batch, 1], tf.constant(START_ID, tf.int64))
        end = tf.fill([batch, 1], tf.constant(END_ID, tf.int64))
        return tf.concat([start, ids, end], axis=1)

    def tokenize(self, strings):
        """A batch of strings -> ragged int64 ids `(batch, None)`, each
        row `[START] ... [END]`. Anything but a string or a non-empty
        batch of valid UTF-8 strings is a `ValueError` (in a graph, an
        assert fails the call on invalid UTF-8)."""
        strings = string_batch(strings)
        return self._tokenize(strings)

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.int64)])
    def _detokenize(self, ids):
        keep = tf.ragged.map_flat_values(
            lambda t: t >= len(RESERVED_TOKENS), ids
        )
        ids = tf.ragged.boolean_mask(ids, keep)
        words = self._bert.detokenize(ids)
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        for pattern, rewrite in _CLEANUP:
            text = tf.strings.regex_replace(text, pattern, rewrite)
        return text

    def detokenize(self, ids):
        """Ids `(batch, length)` (dense, padded with `[PAD]`, or ragged)
        -> a batch of strings, reserved tokens removed. Ids must be
        integers in `[0, vocab_size)`: eagerly, others are a `ValueError`;
        in a graph, an assert fails the call."""
        return self._detokenize(id_batch(ids, self.vocab_size))

    def id_to_token(self, ids):
        """The vocabulary strings of `ids` (any shape, dense or ragged)."""
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self.id_to_token, ids)
        return tf.gather(self._tokens, tf.cast(ids, tf.int64))

    def get_config(self):
        return {"lower_case": self.lower_case}

    def save(self, directory):
        """Writes `vocabulary.txt` and `tokenizer.json` into `directory`."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / VOCABULARY_FILE).write_text(
            "\n".join(self.vocabulary) + "\n", encoding="utf-8"
        )
        (directory / CONFIG_FILE).write_text(
            json.dumps(self.get_config(), indent=2)
        )

    @classmethod
    def load(cls, directory):
        """The tokenizer `save` wrote into `directory`."""
        directory = pathlib.Path(directory)
        config_path = directory / CONFIG_FILE
        if not config_path.is_file():
            raise FileNotFoundError(
                f"No tokenizer in {directory}: {CONFIG_FILE} is missing."
            )
        config = json.loads(config_path.read_text())
        return cls(directory / VOCABULARY_FILE, **config)
