"""Argument and input checks shared by the layers and models; each error
names the argument, what was expected and what was received.

Value checks (token ids in range, labels in range) need the values: they
run in Python on NumPy arrays and eager tensors (`_backend.concrete`).
Inside a traced function the ids get a graph assert (TensorFlow, not XLA)
and `guard_ids` returns a validity mask the caller uses to poison what
out-of-range ids produce (NaN instead of a silently clamped lookup).
"""

import keras
import numpy as np
from keras import ops

from keras_transformer import _backend


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


def check_rate(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_pad_id(pad_id):
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
        raise ValueError(
            f"`pad_id` must be a non-negative int. Received: {pad_id!r}"
        )
    return pad_id


def check_shared_vocabulary(src_vocab_size, tgt_vocab_size):
    """`share_embeddings=True` needs one vocabulary for both sides."""
    if src_vocab_size != tgt_vocab_size:
        raise ValueError(
            "`share_embeddings=True` needs one vocabulary for both sides: "
            "`src_vocab_size` must equal `tgt_vocab_size`. Received: "
            f"src_vocab_size={src_vocab_size}, tgt_vocab_size={tgt_vocab_size}"
        )


def check_divisible(d_model, num_heads):
    if d_model % num_heads != 0:
        raise ValueError(
            "`d_model` must be divisible by `num_heads`. "
            f"Received: d_model={d_model}, num_heads={num_heads}"
        )


def check_rank(layer, name, shape, rank):
    if len(shape) != rank:
        raise ValueError(
            f"{layer} expects `{name}` of rank {rank}. "
            f"Received: {name}.shape={tuple(shape)}"
        )


def check_last_dim(layer, name, shape, expected):
    if shape[-1] is not None and shape[-1] != expected:
        raise ValueError(
            f"{layer} expects the last dimension of `{name}` to be "
            f"d_model={expected}. Received: {name}.shape={tuple(shape)}"
        )


def check_length(layer, length, max_length):
    if length is not None and length > max_length:
        raise ValueError(
            f"{layer} received a sequence longer than `max_length`. "
            f"Received: length={length}, max_length={max_length}"
        )


def check_start(layer, start_index, length, max_length):
    """`start_index + length <= max_length` when both are known now."""
    start = _backend.concrete(start_index)
    if start is None or length is None:
        return
    if start.ndim == 0 and (start < 0 or int(start) + length > max_length):
        raise ValueError(
            f"{layer} reads positions [start_index, start_index + length) "
            f"which must lie in [0, max_length={max_length}). Received: "
            f"start_index={int(start)}, length={length}"
        )


# -- token ids and labels ----------------------------------------------------


def _is_integer(dtype):
    return dtype.startswith(("int", "uint"))


def dtype_problem(name, dtype, kind):
    """What is wrong with the dtype of `name` for a rule `kind` ("ids":
    integer token ids; "labels": class labels, integer or whole floats),
    or `None`."""
    dtype = keras.backend.standardize_dtype(dtype)
    if kind == "ids" and not _is_integer(dtype):
        return (
            f"`{name}` must hold integer ids (token ids; cast them with "
            f"`ops.cast(ids, 'int32')`; fractions are not ids). "
            f"Received: {name}.dtype={dtype}"
        )
    if kind == "labels" and not (_is_integer(dtype) or "float" in dtype):
        return (
            f"`{name}` must hold integer class labels. "
            f"Received: {name}.dtype={dtype}"
        )
    return None


def range_problem(name, kind, limit):
    """The start of the message for values of `name` outside
    `[0, limit)`; `limit` is `(its name, its value)`."""
    what = "token ids" if kind == "ids" else "labels"
    return f"`{name}` holds {what} outside [0, {limit[0]}={limit[1]})."


def empty_problem(name):
    return f"`{name}` holds no tokens (length 0): give at least one token."


def check_values(name, values, kind, limit, ignore=None, allow_empty=True):
    """Checks NumPy `values` of `name` against a rule (see `dtype_problem`)
    and `[0, limit)`, `limit` being `(its name, its value)`. Values equal
    to `ignore` (a padding label) are not checked."""
    values = np.asarray(values)
    problem = dtype_problem(name, values.dtype, kind)
    if problem is not None:
        raise ValueError(problem)
    if not allow_empty and values.ndim >= 1 and values.shape[-1] == 0:
        raise ValueError(
            f"{empty_problem(name)} Received: {name}.shape={values.shape}"
        )
    if ignore is not None:
        values = values[values != ignore]
    if values.size == 0:
        return
    if not _is_integer(str(values.dtype)):
        fractional = values[values != np.round(values)]
        if fractional.size:
            raise ValueError(
                f"`{name}` holds labels that are not whole numbers. "
                f"Received: {fractional.ravel()[0]!r}"
            )
    low, high = values.min(), values.max()
    if low < 0 or high >= limit[1]:
        raise ValueError(
            f"{range_problem(name, kind, limit)} Received: min {low}, "
            f"max {high}"
        )


def guard_ids(name, ids, vocab_size, limit_name="vocab_size"):
    """Checks token ids against `[0, vocab_size)` wherever that can be done.

    Returns `(ids, valid)`. Known values (NumPy, eager) are checked here: a
    `ValueError` names `name` and the ids received, and `valid` is `None`.
    Symbolic ids get a TensorFlow assert (graph mode) and `valid`, a
    boolean tensor true where an id is in range, for the caller to poison
    the results of the others: under XLA the assert is compiled away and a
    lookup clamps its index, so a NaN is the only way such an id shows.
    """
    problem = dtype_problem(name, ids.dtype, "ids")
    if problem is not None:
        raise ValueError(problem)
    limit = (limit_name, vocab_size)
    values = _backend.concrete(ids)
    if values is not None:
        check_values(name, values, "ids", limit)
        return ids, None
    ids = _backend.assert_in_range(
        ids, 0, vocab_size, range_problem(name, "ids", limit)
    )
    valid = ops.logical_and(
        ops.greater_equal(ids, 0), ops.less(ids, vocab_size)
    )
    return ids, valid


def check_model_ids(model, name, ids, limit):
    """The checks a model makes of its id input `name` before any layer
    runs: rank 2, at least one token, integer dtype, and (when the values
    are known) ids in `[0, limit)`, `limit` being `(its name, value)`."""
    if len(ids.shape) != 2:
        raise ValueError(
            f"{model} expects `{name}` as integer ids (batch, length). "
            f"Received: {name}.shape={tuple(ids.shape)}"
        )
    if ids.shape[1] == 0:
        raise ValueError(
            f"{empty_problem(name)} Received: {name}.shape={tuple(ids.shape)}"
        )
    values = _backend.concrete(ids)
    if values is not None:
        check_values(name, values, "ids", limit)
        return
    problem = dtype_problem(name, ids.dtype, "ids")
    if problem is not None:
        raise ValueError(problem)


# -- masks -------------------------------------------------------------------


def check_mask(layer, name, mask, expected):
    """A mask must be boolean or integer (true / nonzero keeps) and of the
    `expected` shape, a tuple of `(axis name, size or None)`: no axis of
    another size, no broadcasting of a `(1, length)` mask over a batch."""
    if mask is None:
        return
    if not hasattr(mask, "shape"):
        mask = np.asarray(mask)
    dtype = keras.backend.standardize_dtype(mask.dtype)
    if dtype != "bool" and not _is_integer(dtype):
        raise ValueError(
            f"{layer} expects `{name}` of booleans or 0/1 integers (true "
            f"keeps). Received: {name}.dtype={dtype}"
        )
    shape = tuple(mask.shape)
    sizes = tuple(size for _, size in expected)
    wanted = "(" + ", ".join(f"{axis}={size}" for axis, size in expected) + ")"
    if len(shape) != len(sizes) or any(
        got is not None and want is not None and got != want
        for got, want in zip(shape, sizes, strict=False)
    ):
        raise ValueError(
            f"{layer} expects `{name}` of shape {wanted}. "
            f"Received: {name}.shape={shape}"
        )
