"""Scaled dot-product attention with several heads.

This module holds what self-attention and cross-attention share: the
Q/K/V/O projection weights and the attention itself,

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V,

computed per head and mixed back to the model width by W_O. The two public
layers, `MultiHeadSelfAttention` and `CrossAttention`, only decide where
queries, keys and values come from.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers._initializers import distinct
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers.dropout import Dropout


class MultiHeadAttentionBase(keras.layers.Layer):
    """Projections and attention shared by the public attention layers.

    Weights (sublayers made in `build`), with `H = num_heads` and
    `d_k = key_dim`: `query_projection`, `key_projection` and
    `value_projection`, `keras.layers.Dense` layers with kernels
    `(input_dim, H * d_k)` (head `h` uses columns `h * d_k : (h + 1) * d_k`),
    and `output_projection` (W_O) with kernel `(H * d_k, output_dim)`, each
    with a bias when `use_bias`. As Keras layers they take `quantize`,
    `enable_lora` and a `LayoutMap` like any `Dense`. The kernels are
    matrices, not `(input_dim, H, d_k)` tensors: under TensorFlow's XLA a
    product with a 3-D kernel ran about 3x slower than with the same
    numbers as a matrix, and batch-1 decoding of a GPT-2-size model at 28
    tokens/s instead of 43 (`benchmarks/generation.py --size gpt2`).
    Weights saved with the earlier 3-D kernels still load (reshaped). The
    Q/K/V kernels start from copies of `kernel_initializer` (values of
    their own), W_O, which writes into a block's residual stream, from
    `output_kernel_initializer` (default: another copy of
    `kernel_initializer`).
    """

    def __init__(
        self,
        num_heads,
        key_dim=None,
        dropout_rate=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = _validation.check_positive_int("num_heads", num_heads)
        if key_dim is not None:
            _validation.check_positive_int("key_dim", key_dim)
        self.key_dim = key_dim
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.output_kernel_initializer = (
            None
            if output_kernel_initializer is None
            else keras.initializers.get(output_kernel_initializer)
        )
        self.supports_masking = True
        self._attention_dropout = Dropout(
            self.dropout_rate,
            dtype=self.dtype_policy,
            name="attention_dropout",
        )

    # -- weights -----------------------------------------------------------

    def _build_projections(self, query_dim, context_dim):
        if self.key_dim is None:
            _validation.check_divisible(query_dim, self.num_heads)
            self._head_dim = query_dim // self.num_heads
        else:
            self._head_dim = self.key_dim
        self._output_dim = query_dim
        inner = self.num_heads * self._head_dim
        self.query_projection, self.key_projection, self.value_projection = (
            self._projection(
                name, inner, distinct(self.kernel_initializer, index), rows
            )
            for index, (name, rows) in enumerate(
                (
                    ("query", query_dim),
                    ("key", context_dim),
                    ("value", context_dim),
                )
            )
        )
        self.output_projection = self._projection(
            "attention_output",
            query_dim,
            self.output_kernel_initializer
            or distinct(self.kernel_initializer, 3),
            inner,
        )

    def _projection(self, name, units, initializer, input_dim):
        layer = _Projection(
            units,
            use_bias=self.use_bias,
            kernel_initializer=initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name=name,
        )
        # The mask of the inputs is the attention's business; the
        # projection only passes it on (no warning about dropping it).
        layer.supports_masking = True
        layer.build((None, None, input_dim))
        return layer

    def _project(self, x, name):
        """`x W + b` for the `name` projection, split into heads:
        `(batch, length, H, d_k)`."""
        y = getattr(self, f"{name}_projection")(x)
        return ops.reshape(
            y, ops.shape(y)[:-1] + (self.num_heads, self._head_dim)
        )

    def _output_projection(self, heads):
        """Concatenates the heads `(batch, length, H, d_k)` and mixes them
        with W_O."""
        shape = ops.shape(heads)
        merged = ops.reshape(
            heads, shape[:-2] + (self.num_heads * self._head_dim,)
        )
        return self.output_projection(merged)

    # -- attention ---------------------------------------------------------

    def _attend(self, query, key, value, mask, return_scores, training):
        """softmax(Q K^T / sqrt(d_k)) V per head.

        Args:
            query: `(batch, query_length, H, d_k)`.
            key, value: `(batch, key_length, H, d_k)`.
            mask: `None` or boolean, broadcastable to
                `(batch, query_length, key_length)`; true = may attend.
            return_scores: also return the weights `(batch, H, q_len, k_len)`.

        The queries are scaled by 1/sqrt(d_k) before the product, which keeps
        the logits in range under float16. When the weights are not needed
        and no dropout applies, the fused `keras.ops.dot_product_attention`
        does the work; otherwise the weights are formed explicitly, with the
        masked softmax in float32.
        """
        query = ops.multiply(
            query, ops.cast(1.0 / math.sqrt(self._head_dim), query.dtype)
        )
        if mask is not None:
            mask = ops.expand_dims(ops.cast(mask, "bool"), axis=-3)
        use_dropout = self.dropout_rate > 0.0 and bool(training)
        if not return_scores and not use_dropout:
            return ops.dot_product_attention(
                query, key, value, mask=mask, scale=1.0
            )

        logits = ops.einsum("bqhd,bkhd->bhqk", query, key)
        logits = ops.cast(logits, "float32")
        if mask is not None:
            logits = ops.where(mask, logits, _LARGE_NEGATIVE)
        weights = ops.cast(ops.softmax(logits, axis=-1), self.compute_dtype)
        dropped = self._attention_dropout(weights, training=training)
        output = ops.einsum("bhqk,bkhd->bqhd", dropped, value)
        if return_scores:
            return output, weights
        return output

    def compute_output_spec(self, *args, **kwargs):
        # Trace `call`: what it returns depends on call flags (scores, cache)
        # that `compute_output_shape` cannot see.
        return keras.Operation.compute_output_spec(self, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout_rate": self.dropout_rate,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config


class _Projection(keras.layers.Dense):
    """A `Dense` attention projection that also loads the weights saved by
    the earlier `EinsumDense` projections: the same numbers as kernels
    `(d_model, H, d_k)` or `(H, d_k, d_model)` and biases `(H, d_k)` (and,
    quantized, their scales), reshaped to this layer's variables."""

    def quantize(self, mode=None, type_check=True, config=None):
        # `Dense.quantize` refuses subclasses unless told otherwise; this
        # one computes exactly as `Dense` does.
        super().quantize(mode, type_check=False, config=config)

    def load_own_variables(self, store):
        shapes = {}
        if self.built:
            mode = self.quantization_mode
            index = 0
            for name in self.variable_serialization_spec.get(mode, ()):
                if name == "kernel":
                    variable = self._kernel
                else:
                    variable = getattr(self, name, None)
                if variable is None:  # no bias; no int4 zero points
                    continue
                shapes[str(index)] = tuple(variable.shape)
                index += 1
        super().load_own_variables(_Reshaped(store, shapes))


class _Reshaped:
    """A saved layer's variables, each reshaped to `shapes[key]` when it
    holds as many numbers in another shape."""

    def __init__(self, store, shapes):
        self._store = store
        self._shapes = shapes

    def keys(self):
        return self._store.keys()

    def __getitem__(self, key):
        value = self._store[key]
        shape = self._shapes.get(key)
        if shape is None or tuple(value.shape) == shape:
            return value
        value = np.asarray(value)
        if value.size != math.prod(shape):
            return value  # Keras names the mismatch
        return value.reshape(shape)


# Masked logits get this value (in float32): exp() of it is exactly 0, yet a
# row with every key masked still gives finite, uniform weights, not NaN.
_LARGE_NEGATIVE = -1e9
