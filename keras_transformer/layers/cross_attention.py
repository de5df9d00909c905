"""Encoder-decoder (cross) attention: queries from the decoder, keys and
values from the encoder's output."""

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers import masks
from keras_transformer.layers.attention import MultiHeadAttentionBase


@keras.saving.register_keras_serializable(package="keras_transformer")
class CrossAttention(MultiHeadAttentionBase):
    """Multi-head attention from one sequence over another (the *context*).

    In the Transformer decoder every target position asks (query) the
    encoder's output (keys and values) which source tokens matter for it.
    The same weights and math as `MultiHeadSelfAttention`; only the keys and
    values come from `context`.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Width `d_k` of each head. Defaults to
            `d_model // num_heads` of the query input.
        dropout_rate: float in [0, 1). Dropout on the attention weights.
        use_bias: bool. Biases in the projections. Defaults to `True`.
        kernel_initializer: initializer of the projection kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of the biases.
        output_kernel_initializer: initializer of the output projection
            `W_O` (the one that writes into a block's residual stream).
            Defaults to `None`: the same as `kernel_initializer`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, length, d_model)`, the queries.
        context: float tensor `(batch, context_length, context_dim)`.
            May be omitted when `cache` holds its keys and values.
        context_padding_mask: optional `(batch, context_length)`, true
            keeps a context token (boolean or 0/1 integers, exactly this
            shape, else a `ValueError`). Wins over the implicit Keras mask
            of `context`, which is used otherwise.
        return_attention_scores: bool. Also return the weights
            `(batch, num_heads, length, context_length)`.
        cache: optional `(batch, 2, context_length, num_heads, d_k)` from
            `compute_cache(context)`: the context's keys and values, computed
            once per source sentence instead of once per decoded token.
        training: bool. Enables dropout.

    Returns:
        `outputs` shaped like `inputs`, or `(outputs, scores)`. The implicit
        mask of `inputs` is passed on.

    Example:

    >>> import numpy as np
    >>> layer = CrossAttention(num_heads=2)
    >>> target = np.ones((1, 3, 8), "float32")
    >>> source = np.ones((1, 5, 6), "float32")
    >>> tuple(layer(target, source).shape)
    (1, 3, 8)
    """

    def build(self, inputs_shape, context_shape=None):
        _validation.check_rank(self.name, "inputs", inputs_shape, 3)
        if context_shape is None:
            raise ValueError(
                f"{self.name} must be called with `context` the first time, "
                "to size its key and value projections. Received: context=None"
            )
        _validation.check_rank(self.name, "context", context_shape, 3)
        self._build_projections(inputs_shape[-1], context_shape[-1])

    def call(
        self,
        inputs,
        context=None,
        context_padding_mask=None,
        return_attention_scores=False,
        cache=None,
        training=None,
        context_mask=None,
    ):
        keys = cache.shape[2] if cache is not None else None
        if keys is None and context is not None:
            keys = context.shape[1]
        _validation.check_mask(
            self.name,
            "context_padding_mask",
            context_padding_mask,
            (("batch", inputs.shape[0]), ("context_length", keys)),
        )
        query = self._project(inputs, "query")
        if cache is None:
            if context is None:
                raise ValueError(
                    f"{self.name} needs `context` or `cache`. "
                    "Received: context=None, cache=None"
                )
            key = self._project(context, "key")
            value = self._project(context, "value")
        else:
            key, value = cache[:, 0], cache[:, 1]
        padding = masks.resolve_padding_mask(context_padding_mask, context_mask)
        result = self._attend(
            query,
            key,
            value,
            masks.key_mask(padding),
            return_attention_scores,
            training,
        )
        if return_attention_scores:
            heads, scores = result
            return self._output_projection(heads), scores
        return self._output_projection(result)

    def compute_cache(self, context):
        """The context's keys and values `(batch, 2, context_length, H, d_k)`,
        to pass as `cache` at every decoding step."""
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' has no weights yet: call it once on "
                "(inputs, context), or build it, before `compute_cache`. "
                f"Received: context.shape={tuple(ops.shape(context))}"
            )
        key = self._project(context, "key")
        value = self._project(context, "value")
        return ops.stack((key, value), axis=1)

    def compute_output_shape(self, inputs_shape, context_shape=None):
        return tuple(inputs_shape)

    def compute_mask(self, inputs, mask=None, **kwargs):
        return mask
