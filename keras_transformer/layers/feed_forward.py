"""The position-wise feed-forward network of a Transformer block."""

import keras

from keras_transformer.layers import _validation
from keras_transformer.layers.dropout import Dropout


@keras.saving.register_keras_serializable(package="keras_transformer")
class FeedForward(keras.layers.Layer):
    """`FFN(x) = activation(x W_1 + b_1) W_2 + b_2`, applied to every
    position on its own, followed by dropout.

    Args:
        d_model: int. Width of the input and output vectors.
        d_ff: int. Width of the hidden layer (the paper uses `4 * d_model`).
        activation: activation of the hidden layer. Defaults to `"relu"`.
        dropout_rate: float in [0, 1). Dropout on the output. Defaults to
            `0.0`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, length, d_model)`.
        training: bool. Enables dropout.

    Returns:
        A tensor shaped like `inputs`; an implicit mask is passed on.

    Example:

    >>> import numpy as np
    >>> ffn = FeedForward(d_model=8, d_ff=32)
    >>> tuple(ffn(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self, d_model, d_ff, activation="relu", dropout_rate=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.d_ff = _validation.check_positive_int("d_ff", d_ff)
        self.activation = keras.activations.get(activation)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.supports_masking = True
        self._inner_dense = keras.layers.Dense(
            self.d_ff,
            activation=self.activation,
            dtype=self.dtype_policy,
            name="inner_dense",
        )
        self._output_dense = keras.layers.Dense(
            self.d_model, dtype=self.dtype_policy, name="output_dense"
        )
        self._dropout = Dropout(
            self.dropout_rate, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, inputs_shape):
        _validation.check_last_dim(
            self.name, "inputs", inputs_shape, self.d_model
        )
        self._inner_dense.build(inputs_shape)
        self._output_dense.build(tuple(inputs_shape[:-1]) + (self.d_ff,))

    def call(self, inputs, training=None):
        hidden = self._inner_dense(inputs)
        return self._dropout(self._output_dense(hidden), training=training)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "d_ff": self.d_ff,
                "activation": keras.activations.serialize(self.activation),
                "dropout_rate": self.dropout_rate,
            }
        )
        return config
