"""One Transformer decoder block: masked self-attention, encoder-decoder
attention, feed-forward."""

import keras

from keras_transformer.layers import _validation
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers._residual import residual
from keras_transformer.layers.cross_attention import CrossAttention
from keras_transformer.layers.dropout import Dropout
from keras_transformer.layers.feed_forward import FeedForward
from keras_transformer.layers.multi_head_self_attention import (
    MultiHeadSelfAttention,
)


@keras.saving.register_keras_serializable(package="keras_transformer")
class DecoderLayer(keras.layers.Layer):
    """One Transformer decoder block.

    Three sublayers, each inside a residual connection with layer
    normalization: self-attention under the look-ahead mask (always: a
    position never sees the tokens after it), attention over the encoder's
    output (`context`), and the feed-forward network. With
    `use_cross_attention=False` the middle sublayer is left out, which gives
    the decoder-only (GPT) block.

    Args:
        d_model: int. Width of every token vector.
        num_heads: int. Attention heads; must divide `d_model`.
        d_ff: int. Width of the feed-forward layer.
        dropout_rate: float in [0, 1). Defaults to `0.1`.
        norm_first: bool. Pre-norm instead of the paper's post-norm.
        use_cross_attention: bool. Defaults to `True`.
        activation: activation of the feed-forward layer.
        layer_norm_epsilon: float. Defaults to `1e-6`.
        kernel_initializer: initializer of the kernels that read the
            residual stream: `W_Q`, `W_K`, `W_V` of each attention and the
            feed-forward's `W_1`. Defaults to `"glorot_uniform"`.
        output_kernel_initializer: initializer of the kernels that write
            into it: each attention's `W_O` and the feed-forward's `W_2`.
            Defaults to `None`: the same as `kernel_initializer`. (GPT-2
            starts these smaller, see `keras_transformer.models.GPT`.)
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, length, d_model)`.
        context: float tensor `(batch, context_length, d_model)`, the
            encoder's output; required with cross-attention unless
            `cross_attention_cache` is given.
        padding_mask: optional `(batch, length)`; with a `cache`,
            `(batch, cache_length)` over the whole decoded sequence. Wins
            over the implicit mask of `inputs` (not used with a cache).
        context_padding_mask: optional `(batch, context_length)`. Wins over
            the implicit mask of `context`.
        cache: optional self-attention cache
            `(batch, 2, max_length, num_heads, d_model // num_heads)`
            (`init_cache`); needs `cache_index`.
        cache_index: the position of `inputs[:, 0]` in the sequence.
        cross_attention_cache: optional keys and values of `context` from
            `compute_cross_attention_cache`.
        return_attention_scores: bool. Also return a dict with the
            `"self_attention"` and `"cross_attention"` weights.
        training: bool, enables dropout.

    Returns:
        `outputs` shaped like `inputs`, then the scores dict if requested,
        then the updated cache if one was given (a tuple when more than
        `outputs` is returned).

    Example:

    >>> import numpy as np
    >>> layer = DecoderLayer(d_model=8, num_heads=2, d_ff=16)
    >>> target = np.zeros((2, 4, 8), "float32")
    >>> source = np.zeros((2, 6, 8), "float32")
    >>> tuple(layer(target, source).shape)
    (2, 4, 8)
    """

    def __init__(
        self,
        d_model,
        num_heads,
        d_ff,
        dropout_rate=0.1,
        norm_first=False,
        use_cross_attention=True,
        activation="relu",
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.num_heads = _validation.check_positive_int("num_heads", num_heads)
        _validation.check_divisible(d_model, num_heads)
        self.d_ff = _validation.check_positive_int("d_ff", d_ff)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.norm_first = bool(norm_first)
        self.use_cross_attention = bool(use_cross_attention)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = (
            None
            if output_kernel_initializer is None
            else keras.initializers.get(output_kernel_initializer)
        )
        self.supports_masking = True

        policy = self.dtype_policy

        def initializers():
            # A copy for each sublayer, so that each draws its own values
            # (one unseeded Keras initializer repeats its numbers).
            return dict(
                kernel_initializer=keras.initializers.serialize(
                    self.kernel_initializer
                ),
                output_kernel_initializer=keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            )

        def norm(name):
            return keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=policy, name=name
            )

        def dropout(name):
            return Dropout(self.dropout_rate, dtype=policy, name=name)

        self._self_attention = MultiHeadSelfAttention(
            num_heads,
            dropout_rate=self.dropout_rate,
            **initializers(),
            dtype=policy,
            name="self_attention",
        )
        self._self_attention_norm = norm("self_attention_norm")
        self._self_attention_dropout = dropout("self_attention_dropout")
        if self.use_cross_attention:
            self._cross_attention = CrossAttention(
                num_heads,
                dropout_rate=self.dropout_rate,
                **initializers(),
                dtype=policy,
                name="cross_attention",
            )
            self._cross_attention_norm = norm("cross_attention_norm")
            self._cross_attention_dropout = dropout("cross_attention_dropout")
        self._feed_forward = FeedForward(
            d_model,
            d_ff,
            activation=self.activation,
            dropout_rate=self.dropout_rate,
            **initializers(),
            dtype=policy,
            name="feed_forward",
        )
        self._feed_forward_norm = norm("feed_forward_norm")

    def build(self, inputs_shape, context_shape=None):
        _validation.check_rank(self.name, "inputs", inputs_shape, 3)
        _validation.check_last_dim(
            self.name, "inputs", inputs_shape, self.d_model
        )
        self._self_attention.build(inputs_shape)
        self._self_attention_norm.build(inputs_shape)
        if self.use_cross_attention:
            if context_shape is None:
                # Decoding from a cross-attention cache: the encoder's output
                # has the model's width.
                context_shape = (None, None, self.d_model)
            self._cross_attention.build(inputs_shape, context_shape)
            self._cross_attention_norm.build(inputs_shape)
        self._feed_forward.build(inputs_shape)
        self._feed_forward_norm.build(inputs_shape)

    def call(
        self,
        inputs,
        context=None,
        padding_mask=None,
        context_padding_mask=None,
        cache=None,
        cache_index=None,
        cross_attention_cache=None,
        return_attention_scores=False,
        training=None,
        mask=None,
        inputs_mask=None,
        context_mask=None,
    ):
        self._check_context(context, cross_attention_cache)
        implicit = mask if mask is not None else inputs_mask
        if padding_mask is None and cache is None:
            padding_mask = implicit
        scores = {}

        def self_attend(x):
            result = self._self_attention(
                x,
                padding_mask=padding_mask,
                use_causal_mask=True,
                return_attention_scores=return_attention_scores,
                cache=cache,
                cache_index=cache_index,
                training=training,
            )
            result = result if isinstance(result, tuple) else (result,)
            if return_attention_scores:
                scores["self_attention"] = result[1]
            out = self._self_attention_dropout(result[0], training=training)
            return (out,) + result[1 + return_attention_scores :]

        x, new_cache = residual(
            inputs, self._self_attention_norm, self.norm_first, self_attend
        )

        if self.use_cross_attention:

            def cross_attend(y):
                result = self._cross_attention(
                    y,
                    context,
                    context_padding_mask=context_padding_mask,
                    return_attention_scores=return_attention_scores,
                    cache=cross_attention_cache,
                    training=training,
                    context_mask=context_mask,
                )
                if return_attention_scores:
                    result, scores["cross_attention"] = result
                out = self._cross_attention_dropout(result, training=training)
                return (out,)

            x, _ = residual(
                x, self._cross_attention_norm, self.norm_first, cross_attend
            )

        x, _ = residual(
            x,
            self._feed_forward_norm,
            self.norm_first,
            lambda y: (self._feed_forward(y, training=training),),
        )
        outputs = (x,)
        if return_attention_scores:
            outputs += (scores,)
        if cache is not None:
            outputs += tuple(new_cache)
        return outputs[0] if len(outputs) == 1 else outputs

    def _check_context(self, context, cross_attention_cache):
        if self.use_cross_attention:
            if context is None and cross_attention_cache is None:
                raise ValueError(
                    f"{self.name} uses cross-attention and needs `context` "
                    "(the encoder's output) or `cross_attention_cache`. "
                    "Received: context=None"
                )
        elif context is not None or cross_attention_cache is not None:
            raise ValueError(
                f"{self.name} was built with use_cross_attention=False and "
                "takes no `context`. Received: context with shape "
                f"{getattr(context, 'shape', None)}"
            )

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty self-attention cache for `max_length` tokens."""
        return self._self_attention.init_cache(batch_size, max_length, dtype)

    def compute_cross_attention_cache(self, context):
        """Keys and values of `context`, computed once per source."""
        return self._cross_attention.compute_cache(context)

    def compute_output_spec(self, *args, **kwargs):
        return keras.Operation.compute_output_spec(self, *args, **kwargs)

    def compute_output_shape(self, inputs_shape, context_shape=None):
        return tuple(inputs_shape)

    def compute_mask(self, inputs, mask=None, **kwargs):
        return mask

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "d_ff": self.d_ff,
                "dropout_rate": self.dropout_rate,
                "norm_first": self.norm_first,
                "use_cross_attention": self.use_cross_attention,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config
