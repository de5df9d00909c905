"""Multi-head self-attention: queries, keys and values from one sequence."""

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers import masks
from keras_transformer.layers.attention import MultiHeadAttentionBase


@keras.saving.register_keras_serializable(package="keras_transformer")
class MultiHeadSelfAttention(MultiHeadAttentionBase):
    """Multi-head self-attention with padding, causal masks and a KV cache.

    Each token's vector is projected to a query, a key and a value per head
    (`W_Q`, `W_K`, `W_V`); every head computes
    `softmax(Q K^T / sqrt(d_k)) V`, and `W_O` mixes the concatenated heads
    back to the input width.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Width `d_k` of each head. Defaults to
            `d_model // num_heads`, which needs `num_heads` to divide the
            input width `d_model`.
        dropout_rate: float in [0, 1). Dropout on the attention weights.
            Defaults to `0.0`.
        use_bias: bool. Biases in the projections. Defaults to `True`.
        kernel_initializer: initializer of the projection kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of the biases.
        output_kernel_initializer: initializer of the output projection
            `W_O` (the one that writes into a block's residual stream).
            Defaults to `None`: the same as `kernel_initializer`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, length, d_model)`.
        padding_mask: optional `(batch, key_length)`, true keeps a key.
            Without a cache, `key_length == length`; with a cache it spans
            the whole cache. Wins over an implicit Keras mask, which is used
            when no `padding_mask` is given (and never with a cache).
        attention_mask: optional `(batch, length, key_length)`, true lets
            the query attend to the key. ANDed with the other masks.
            Both masks are boolean or 0/1 integers; any other dtype, and
            any other shape (no broadcasting of a `(1, key_length)` mask
            over the batch) is a `ValueError` when the shapes are known.
        use_causal_mask: bool. Token `i` attends only to tokens `<= i`.
        return_attention_scores: bool. Also return the attention weights
            `(batch, num_heads, length, key_length)`.
        cache: optional `(batch, 2, max_length, num_heads, d_k)` keys and
            values of the tokens decoded so far (see `init_cache`).
        cache_index: int or scalar tensor, required with `cache`: the
            position of `inputs[:, 0]` in the sequence. The new keys and
            values are written there; queries see only keys that have been
            written (and, with `use_causal_mask`, not later ones).
        training: bool. Enables dropout.

    Returns:
        `outputs` shaped like `inputs`; with `return_attention_scores`,
        `(outputs, scores)`; with a `cache`, the updated cache is appended:
        `(outputs, cache)` or `(outputs, scores, cache)`. The implicit mask
        of `inputs` is passed on to `outputs`.

    Example:

    >>> import numpy as np
    >>> layer = MultiHeadSelfAttention(num_heads=2)
    >>> x = np.ones((1, 3, 8), "float32")
    >>> out, scores = layer(x, use_causal_mask=True,
    ...                     return_attention_scores=True)
    >>> tuple(out.shape), tuple(scores.shape)
    ((1, 3, 8), (1, 2, 3, 3))
    >>> np.round(np.asarray(scores)[0, 0], 2)  # equal inputs, equal shares
    array([[1.  , 0.  , 0.  ],
           [0.5 , 0.5 , 0.  ],
           [0.33, 0.33, 0.33]], dtype=float32)
    """

    def build(self, inputs_shape):
        _validation.check_rank(self.name, "inputs", inputs_shape, 3)
        self._build_projections(inputs_shape[-1], inputs_shape[-1])

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        cache=None,
        cache_index=None,
        training=None,
        mask=None,
        inputs_mask=None,
    ):
        self._check_masks(inputs, padding_mask, attention_mask, cache)
        query = self._project(inputs, "query")
        key = self._project(inputs, "key")
        value = self._project(inputs, "value")
        if cache is None:
            padding = masks.resolve_padding_mask(
                padding_mask, mask if mask is not None else inputs_mask
            )
            length = ops.shape(inputs)[1]
            causal = masks.look_ahead_mask(length) if use_causal_mask else None
        else:
            if cache_index is None:
                raise ValueError(
                    "`cache_index` is required when `cache` is given. "
                    "Received: cache_index=None"
                )
            cache = ops.slice_update(
                cache,
                (0, 0, cache_index, 0, 0),
                ops.cast(ops.stack((key, value), axis=1), cache.dtype),
            )
            key, value = cache[:, 0], cache[:, 1]
            padding = masks.resolve_padding_mask(padding_mask, None)
            causal = self._cache_mask(
                ops.shape(inputs)[1],
                ops.shape(cache)[2],
                cache_index,
                use_causal_mask,
            )
        attention = masks.combine_masks(
            masks.key_mask(padding), causal, attention_mask
        )
        result = self._attend(
            query, key, value, attention, return_attention_scores, training
        )
        if return_attention_scores:
            heads, scores = result
            outputs = (self._output_projection(heads), scores)
        else:
            outputs = (self._output_projection(result),)
        if cache is not None:
            outputs = outputs + (cache,)
        return outputs[0] if len(outputs) == 1 else outputs

    def _check_masks(self, inputs, padding_mask, attention_mask, cache):
        batch, length = inputs.shape[0], inputs.shape[1]
        key_length = length if cache is None else cache.shape[2]
        _validation.check_mask(
            self.name,
            "padding_mask",
            padding_mask,
            (("batch", batch), ("key_length", key_length)),
        )
        _validation.check_mask(
            self.name,
            "attention_mask",
            attention_mask,
            (("batch", batch), ("length", length), ("key_length", key_length)),
        )

    @staticmethod
    def _cache_mask(length, cache_length, cache_index, causal):
        """Which cache slots the new queries may see: those written so far,
        and with `causal` only those at or before each query's position."""
        if causal:
            return masks.look_ahead_mask(length, cache_length, cache_index)
        last = ops.cast(cache_index, "int32") + length
        written = ops.less(ops.arange(cache_length, dtype="int32"), last)
        return ops.broadcast_to(written[None, :], (length, cache_length))

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty cache `(batch_size, 2, max_length, num_heads, d_k)`."""
        return ops.zeros(
            (batch_size, 2, max_length, self.num_heads, self._head_dim),
            dtype=dtype or self.compute_dtype,
        )

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def compute_mask(self, inputs, mask=None, **kwargs):
        return mask
