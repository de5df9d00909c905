"""Strings in, translations out: tokenizers, encoder and cached decoder in
one TensorFlow graph that can be saved as a SavedModel."""

import numbers
import pathlib

import tensorflow as tf

from keras_transformer import generation
from keras_transformer.generation import _common
from keras_transformer.text import wordpiece

# Sources are padded to one of these lengths so that the compiled decoder
# sees a few shapes, not one per batch.
SOURCE_BUCKETS = (16, 32, 64, 128, 256, 512)


class Translator(tf.Module):
    """A trained `Transformer` with its two tokenizers, as a function from
    a batch of strings to a batch of strings.

    Input text is normalized and tokenized as in training; an empty or
    blank string translates to an empty string. Decoding is beam search
    (greedy when `beam_size=1`) with the key/value cache, compiled with
    XLA.

    A source longer than the model's `max_length` tokens is an error: from
    Python (`__call__`, `source_ids` called eagerly) a `ValueError` that
    names the sentence, its length and `max_length`; in the SavedModel's
    graph an assert fails the call with that message (an
    `InvalidArgumentError`). With `truncate_long_sources=True` such a
    source is cut to its first `max_length - 1` tokens and `[END]`
    instead, for a server that must answer every request.

    Args:
        model: a `keras_transformer.models.Transformer`.
        source_tokenizer: `WordPieceTokenizer` of the source language.
        target_tokenizer: `WordPieceTokenizer` of the target language.
        beam_size: int. Defaults to `4`.
        length_penalty: float. GNMT alpha. Defaults to `0.6`.
        max_output_length: int. Most target tokens. Defaults to the
            model's `max_length`.
        jit_compile: bool. Compile the decoding loop with XLA.
        truncate_long_sources: bool. Cut long sources instead of failing.
            Defaults to `False`.
    """

    def __init__(
        self,
        model,
        source_tokenizer,
        target_tokenizer,
        beam_size=4,
        length_penalty=0.6,
        max_output_length=None,
        jit_compile=True,
        truncate_long_sources=False,
        name=None,
    ):
        super().__init__(name=name)
        _check_settings(model, beam_size, length_penalty, max_output_length)
        if source_tokenizer.vocab_size != model.src_vocab_size:
            raise ValueError(
                "The source tokenizer has "
                f"{source_tokenizer.vocab_size} tokens but the model expects "
                f"src_vocab_size={model.src_vocab_size}."
            )
        if target_tokenizer.vocab_size != model.tgt_vocab_size:
            raise ValueError(
                "The target tokenizer has "
                f"{target_tokenizer.vocab_size} tokens but the model expects "
                f"tgt_vocab_size={model.tgt_vocab_size}."
            )
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.beam_size = int(beam_size)
        self.length_penalty = float(length_penalty)
        self.max_output_length = int(max_output_length or model.max_length)
        self.jit_compile = bool(jit_compile)
        self.truncate_long_sources = bool(truncate_long_sources)

    def source_ids(self, strings):
        """Padded source ids `(batch, bucket)`. A source longer than the
        model's `max_length` is an error (see the class docstring), or is
        truncated with `truncate_long_sources`."""
        ids = self.source_tokenizer.tokenize(strings)
        limit = self.model.max_length
        if self.truncate_long_sources:
            ids = ids[:, :limit]
        else:
            ids = self._check_lengths(ids, limit)
        lengths = ids.row_lengths()
        buckets = tf.constant(
            [b for b in SOURCE_BUCKETS if b < limit] + [limit], tf.int64
        )
        longest = tf.reduce_max(lengths)
        width = tf.reduce_min(tf.boolean_mask(buckets, buckets >= longest))
        dense = ids.to_tensor(
            shape=tf.stack([tf.size(lengths, tf.int64), width])
        )
        if not self.truncate_long_sources:
            return dense
        # A truncated row still ends with [END] (a no-op for the others).
        last = tf.stack([tf.range(tf.size(lengths, tf.int64)), lengths - 1], 1)
        ends = tf.fill(
            tf.shape(lengths), tf.constant(wordpiece.END_ID, tf.int64)
        )
        return tf.tensor_scatter_nd_update(dense, last, ends)

    @staticmethod
    def _check_lengths(ids, limit):
        lengths = ids.row_lengths()
        if tf.executing_eagerly():
            long = [
                (i, int(n)) for i, n in enumerate(lengths.numpy()) if n > limit
            ]
            if long:
                i, n = long[0]
                raise ValueError(
                    f"Source sentence {i} has {n} tokens, more than the "
                    f"model's max_length={limit} (`strings` must fit; split "
                    "the sentence, or build the Translator with "
                    "truncate_long_sources=True). Received: "
                    f"{len(long)} of {len(lengths)} sentences too long"
                )
            return ids
        longest = tf.reduce_max(tf.concat([lengths, [0]], 0))
        check = tf.debugging.Assert(
            longest <= limit,
            [
                tf.strings.format(
                    "A source sentence has {} tokens, more than the model's "
                    f"max_length={limit}.",
                    longest,
                )
            ],
        )
        with tf.control_dependencies([check]):
            return tf.identity(ids)

    def translate_ids(self, src_ids):
        """Source ids -> `(target ids (batch, max_output_length), scores)`."""
        if self.beam_size == 1:
            return generation.greedy_search(
                self.model,
                src_ids,
                self.max_output_length,
                wordpiece.START_ID,
                wordpiece.END_ID,
                pad_id=wordpiece.PAD_ID,
                jit_compile=self.jit_compile,
            )
        return generation.beam_search(
            self.model,
            src_ids,
            self.max_output_length,
            wordpiece.START_ID,
            wordpiece.END_ID,
            beam_size=self.beam_size,
            length_penalty=self.length_penalty,
            pad_id=wordpiece.PAD_ID,
            jit_compile=self.jit_compile,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, strings):
        """The SavedModel signature: strings `(batch,)` -> strings."""
        blank = tf.equal(tf.strings.strip(strings), "")
        src_ids = self.source_ids(strings)
        tokens, _ = self.translate_ids(tf.cast(src_ids, "int32"))
        text = self.target_tokenizer.detokenize(tf.cast(tokens, tf.int64))
        return tf.where(blank, tf.constant(""), text)

    def __call__(self, strings):
        """Translations of `strings` (a string or a list of strings), as
        a list of Python strings."""
        single = isinstance(strings, str)
        batch = [strings] if single else list(strings)
        for i, s in enumerate(batch):
            if not isinstance(s, str):
                raise ValueError(
                    f"Translator takes strings. Received {type(s).__name__} "
                    f"at position {i}: {s!r}"
                )
        if not batch:
            return []
        strings = tf.constant(batch, tf.string)
        self.source_ids(strings)  # eagerly: a clear error for long text
        out = self.serve(strings)
        text = [t.decode("utf-8") for t in out.numpy().tolist()]
        return text[0] if single else text

    def export(self, path):
        """Writes a SavedModel whose `serving_default` signature maps
        `{"text": strings}` to `{"translation": strings}`; loading it needs
        only TensorFlow and tensorflow-text."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(text):
            return {"translation": self.serve(text)}

        path = pathlib.Path(path)
        tf.saved_model.save(
            self, str(path), signatures={"serving_default": serving_default}
        )
        return path


def _check_settings(model, beam_size, length_penalty, max_output_length):
    """The decoding settings, before anything is traced (as
    `generation.beam_search` checks them)."""
    _common.check_int("beam_size", beam_size)
    _common.check_length_penalty(length_penalty)
    if max_output_length is not None and (
        not isinstance(max_output_length, numbers.Integral)
        or isinstance(max_output_length, bool)
        or not 1 <= max_output_length <= model.max_length
    ):
        raise ValueError(
            f"`max_output_length` must be an int in [1, {model.max_length}] "
            "(the model's max_length). "
            f"Received: max_output_length={max_output_length!r}"
        )
