"""Mask builders shared by the attention layers.

Conventions (see DESIGN.md): a padding mask is `(batch, length)` and is true
where a token is real; an attention mask is `(batch, query_length,
key_length)` and is true where the query may attend to the key.
"""

from keras import ops


def look_ahead_mask(length, key_length=None, offset=0):
    """The causal (look-ahead) mask of the Transformer decoder.

    Query `i` may attend to key `j` only when `j <= i + offset`, so no
    position sees the tokens after it.

    Args:
        length: int or scalar tensor. Number of queries.
        key_length: int or scalar tensor. Number of keys; defaults to
            `length`.
        offset: int or scalar tensor. Absolute position of the first query,
            used when the keys come from a cache that already holds
            `offset` earlier tokens.

    Returns:
        A boolean tensor `(length, key_length)`.

    Example:

    >>> from keras import ops
    >>> ops.convert_to_numpy(look_ahead_mask(3)).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """
    key_length = length if key_length is None else key_length
    query_positions = ops.arange(length, dtype="int32")[:, None]
    key_positions = ops.arange(key_length, dtype="int32")[None, :]
    offset = ops.cast(offset, "int32")
    return ops.less_equal(key_positions, query_positions + offset)


def padding_mask(ids, pad_id=0):
    """True where `ids` holds a real token, false at `pad_id`.

    Args:
        ids: integer tensor `(batch, length)`.
        pad_id: int. The id used for padding. Defaults to `0`.

    Returns:
        A boolean tensor shaped like `ids`.

    Example:

    >>> from keras import ops
    >>> ids = ops.convert_to_tensor([[5, 7, 0, 0]])
    >>> ops.convert_to_numpy(padding_mask(ids)).tolist()
    [[True, True, False, False]]
    """
    return ops.not_equal(ids, pad_id)


def resolve_padding_mask(padding_mask, implicit_mask):
    """Picks the padding mask a layer uses: an explicit one wins.

    `implicit_mask` is the Keras mask that arrived with the inputs (for
    example from `Embedding(mask_zero=True)`); it is used only when no
    explicit `padding_mask` was passed.
    """
    mask = padding_mask if padding_mask is not None else implicit_mask
    if mask is None:
        return None
    return ops.cast(mask, "bool")


def key_mask(padding_mask):
    """Turns a `(batch, key_length)` padding mask into an attention mask
    `(batch, 1, key_length)` that broadcasts over the queries."""
    if padding_mask is None:
        return None
    return ops.expand_dims(ops.cast(padding_mask, "bool"), axis=1)


def combine_masks(*masks):
    """Logical AND of the masks that are not `None` (or `None`)."""
    result = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        result = mask if result is None else ops.logical_and(result, mask)
    return result
