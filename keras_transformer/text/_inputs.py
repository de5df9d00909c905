"""Input checks shared by the tokenizers."""

import tensorflow as tf


def string_batch(strings):
    """A string or a 1-D batch of strings as a 1-D `tf.string` tensor;
    anything else is a `ValueError` that says what was received."""
    strings = tf.convert_to_tensor(strings)
    if strings.dtype != tf.string:
        raise ValueError(
            "`tokenize` takes strings. Received a tensor of dtype "
            f"{strings.dtype.name}"
        )
    if strings.shape.rank == 0:
        strings = strings[None]
    if strings.shape.rank != 1:
        raise ValueError(
            "`tokenize` takes a scalar or a 1-D batch of strings. "
            f"Received shape {strings.shape}"
        )
    return strings
