"""Argument checks shared by the layers; each names what it received."""


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
