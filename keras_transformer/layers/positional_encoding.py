"""Sinusoidal positional encoding (Vaswani et al., 2017, section 3.5)."""

import math

import keras
from keras import ops

from keras_transformer.layers import _validation


def sinusoidal_encoding(length, d_model, start_index=0, base=10000.0):
    """The table `PE(pos, 2i) = sin(pos / base^(2i / d_model))`,
    `PE(pos, 2i + 1) = cos(pos / base^(2i / d_model))` for
    `pos = start_index, ..., start_index + length - 1`.

    Returns a float32 tensor `(length, d_model)`: even columns hold sines,
    odd columns cosines, with the same frequency in each pair.
    """
    positions = ops.arange(length, dtype="float32") + ops.cast(
        start_index, "float32"
    )
    # 2i / d_model for every column (a sine/cosine pair shares its i).
    pair = ops.arange(d_model, dtype="int32") // 2
    exponent = ops.cast(2 * pair, "float32") / float(d_model)
    inverse_frequency = ops.exp(-math.log(base) * exponent)
    angles = positions[:, None] * inverse_frequency[None, :]
    is_even = ops.equal(ops.arange(d_model, dtype="int32") % 2, 0)
    return ops.where(is_even[None, :], ops.sin(angles), ops.cos(angles))


@keras.saving.register_keras_serializable(package="keras_transformer")
class PositionalEncoding(keras.layers.Layer):
    """Adds the fixed sinusoidal position signal to a sequence of vectors.

    `PE(pos, 2i) = sin(pos / base^(2i / d_model))` and
    `PE(pos, 2i + 1) = cos(pos / base^(2i / d_model))`. Each pair of
    columns is a rotation at its own frequency, so `PE(pos + k)` is a linear
    function of `PE(pos)` and attention can find relative offsets.

    Args:
        max_length: int. Longest sequence accepted. Defaults to `2048`.
        base: float. The wavelength base. Defaults to `10000`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, length, d_model)`.
        start_index: int or scalar tensor. Position of `inputs[:, 0]`, for
            decoding one token at a time. Defaults to `0`.

    Returns:
        `inputs + PE` in the compute dtype; an implicit mask is passed on.

    Example:

    >>> import numpy as np
    >>> out = PositionalEncoding()(np.zeros((1, 2, 4), "float32"))
    >>> np.round(np.asarray(out)[0], 3)  # rows: sin, cos, sin, cos
    array([[0.   , 1.   , 0.   , 1.   ],
           [0.841, 0.54 , 0.01 , 1.   ]], dtype=float32)
    """

    def __init__(self, max_length=2048, base=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_length = _validation.check_positive_int(
            "max_length", max_length
        )
        if (
            isinstance(base, bool)
            or not isinstance(base, (int, float))
            or (base <= 1)
        ):
            raise ValueError(
                "`base` must be a number greater than 1. "
                f"Received: base={base!r}"
            )
        self.base = base
        self.supports_masking = True

    def build(self, inputs_shape):
        _validation.check_rank(self.name, "inputs", inputs_shape, 3)
        if inputs_shape[-1] is None:
            raise ValueError(
                f"{self.name} needs a known last dimension (d_model). "
                f"Received: inputs.shape={tuple(inputs_shape)}"
            )

    def call(self, inputs, start_index=0):
        _validation.check_length(self.name, inputs.shape[1], self.max_length)
        encoding = sinusoidal_encoding(
            ops.shape(inputs)[1], inputs.shape[-1], start_index, self.base
        )
        return ops.add(inputs, ops.cast(encoding, inputs.dtype)[None])

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length, "base": self.base})
        return config
