"""The position-wise feed-forward network of a Transformer block."""

import keras

from keras_transformer.layers import _validation
from keras_transformer.layers._initializers import distinct
from keras_transformer.layers._quantization import config_dtype
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
        kernel_initializer: initializer of `W_1` (and of `W_2` unless
            `output_kernel_initializer` is given). Defaults to
            `"glorot_uniform"`.
        output_kernel_initializer: initializer of `W_2`, the kernel that
            writes into a block's residual stream. Defaults to `None`: a
            copy of `kernel_initializer` (its distribution, values of its
            own).
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
        self,
        d_model,
        d_ff,
        activation="relu",
        dropout_rate=0.0,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.d_ff = _validation.check_positive_int("d_ff", d_ff)
        self.activation = keras.activations.get(activation)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = (
            None
            if output_kernel_initializer is None
            else keras.initializers.get(output_kernel_initializer)
        )
        self.supports_masking = True
        self._inner_dense = keras.layers.Dense(
            self.d_ff,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="inner_dense",
        )
        self._output_dense = keras.layers.Dense(
            self.d_model,
            kernel_initializer=self.output_kernel_initializer
            or distinct(self.kernel_initializer, 1),
            dtype=self.dtype_policy,
            name="output_dense",
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
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "d_model": self.d_model,
                "d_ff": self.d_ff,
                "activation": keras.activations.serialize(self.activation),
                "dropout_rate": self.dropout_rate,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config
