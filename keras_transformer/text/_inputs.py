"""Input checks shared by the tokenizers.

Eagerly, the values are checked in Python and a bad one is a `ValueError`.
Inside a graph (a `tf.data` map, a SavedModel's function) a TensorFlow
assert fails the call with the same message (these graphs are not
XLA-compiled, so the asserts run).
"""

import tensorflow as tf


def string_batch(strings, name="strings"):
    """A string or a 1-D batch of strings as a 1-D `tf.string` tensor of
    valid UTF-8; anything else is a `ValueError` that says what was
    received."""
    if strings is None or (
        isinstance(strings, (list, tuple)) and len(strings) == 0
    ):
        raise ValueError(
            f"`{name}` must be a string or a non-empty batch of strings. "
            f"Received: {name}={strings!r}"
        )
    try:
        strings = tf.convert_to_tensor(strings)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a string or a batch of strings. "
            f"Received: {type(strings).__name__}"
        ) from None
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
    return _valid_utf8(strings, name)


def _valid_utf8(strings, name):
    if tf.executing_eagerly():
        for i, raw in enumerate(strings.numpy()):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"String {i} is not valid UTF-8 ({e.reason} at byte "
                    f"{e.start}): `{name}` must be UTF-8 text. "
                    f"Received: {raw[:40]!r}"
                ) from None
        return strings
    # Transcoding replaces invalid bytes (and leaves valid text alone).
    same = tf.equal(
        tf.strings.unicode_transcode(
            strings, "UTF-8", "UTF-8", errors="replace"
        ),
        strings,
    )
    check = tf.debugging.Assert(
        tf.reduce_all(same), [f"`{name}` must be valid UTF-8 text."]
    )
    with tf.control_dependencies([check]):
        return tf.identity(strings)


def id_batch(ids, vocab_size, name="ids"):
    """Token ids (dense or ragged, one row or a batch) as a ragged int64
    `(batch, None)` tensor of ids in `[0, vocab_size)`."""
    if not isinstance(ids, tf.RaggedTensor):
        try:
            ids = tf.convert_to_tensor(ids)
        except (TypeError, ValueError):
            raise ValueError(
                f"`{name}` must be integer token ids. "
                f"Received: {type(ids).__name__}"
            ) from None
        if ids.shape.rank == 1:
            ids = ids[None]
        if ids.shape.rank != 2:
            raise ValueError(
                f"`{name}` must be one row or a batch (batch, length) of "
                f"ids. Received shape {ids.shape}"
            )
        ids = tf.RaggedTensor.from_tensor(ids)
    if not ids.dtype.is_integer:
        raise ValueError(
            f"`{name}` must be integer token ids. Received dtype "
            f"{ids.dtype.name}"
        )
    ids = tf.cast(ids, tf.int64)
    flat = ids.flat_values
    if tf.executing_eagerly():
        bad = flat[(flat < 0) | (flat >= vocab_size)].numpy()
        if bad.size:
            raise ValueError(
                f"Ids must be in [0, {vocab_size}) (`{name}` holds ids "
                f"outside the vocabulary, vocab_size={vocab_size}). "
                f"Received {sorted(set(bad.tolist()))[:10]}"
            )
        return ids
    check = tf.debugging.Assert(
        tf.reduce_all((flat >= 0) & (flat < vocab_size)),
        [
            f"Ids must be in [0, {vocab_size}) (`{name}` holds ids "
            f"outside the vocabulary, vocab_size={vocab_size})."
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(ids)
