"""One Transformer encoder block: self-attention, then feed-forward."""

import keras

from keras_transformer.layers import _validation
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers._residual import residual
from keras_transformer.layers.dropout import Dropout
from keras_transformer.layers.feed_forward import FeedForward
from keras_transformer.layers.multi_head_self_attention import (
    MultiHeadSelfAttention,
)


@keras.saving.register_keras_serializable(package="keras_transformer")
class EncoderLayer(keras.layers.Layer):
    """One Transformer encoder block.

    Two sublayers, each inside a residual connection with layer
    normalization: multi-head self-attention over the whole (unmasked)
    sequence, then the position-wise feed-forward network. Post-norm, as in
    the paper, by default: `x = LayerNorm(x + Dropout(Sublayer(x)))`; with
    `norm_first=True`, pre-norm: `x = x + Dropout(Sublayer(LayerNorm(x)))`.

    Args:
        d_model: int. Width of every token vector.
        num_heads: int. Attention heads; must divide `d_model`.
        d_ff: int. Width of the feed-forward layer.
        dropout_rate: float in [0, 1). Dropout on the attention weights and
            on each sublayer's output. Defaults to `0.1`.
        norm_first: bool. Pre-norm instead of post-norm. Defaults to `False`.
        activation: activation of the feed-forward layer. Defaults to
            `"relu"`.
        layer_norm_epsilon: float. Defaults to `1e-6`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, length, d_model)`.
        padding_mask: optional `(batch, length)`, 1 keeps a token. Wins over
            an implicit Keras mask, which is used when none is given.
        return_attention_scores: bool. Also return the self-attention
            weights `(batch, num_heads, length, length)`.
        training: bool, enables dropout.

    Returns:
        A tensor shaped like `inputs` (the implicit mask is passed on), or
        `(outputs, scores)`.

    Example:

    >>> import numpy as np
    >>> layer = EncoderLayer(d_model=8, num_heads=2, d_ff=16)
    >>> tuple(layer(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        d_model,
        num_heads,
        d_ff,
        dropout_rate=0.1,
        norm_first=False,
        activation="relu",
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.num_heads = _validation.check_positive_int("num_heads", num_heads)
        _validation.check_divisible(d_model, num_heads)
        self.d_ff = _validation.check_positive_int("d_ff", d_ff)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.norm_first = bool(norm_first)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.supports_masking = True

        policy = self.dtype_policy
        self._self_attention = MultiHeadSelfAttention(
            num_heads,
            dropout_rate=self.dropout_rate,
            dtype=policy,
            name="self_attention",
        )
        self._self_attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=policy,
            name="self_attention_norm",
        )
        self._self_attention_dropout = Dropout(
            self.dropout_rate, dtype=policy, name="self_attention_dropout"
        )
        self._feed_forward = FeedForward(
            d_model,
            d_ff,
            activation=self.activation,
            dropout_rate=self.dropout_rate,
            dtype=policy,
            name="feed_forward",
        )
        self._feed_forward_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=policy,
            name="feed_forward_norm",
        )

    def build(self, inputs_shape):
        _validation.check_rank(self.name, "inputs", inputs_shape, 3)
        _validation.check_last_dim(
            self.name, "inputs", inputs_shape, self.d_model
        )
        for layer in (
            self._self_attention,
            self._self_attention_norm,
            self._feed_forward,
            self._feed_forward_norm,
        ):
            layer.build(inputs_shape)

    def call(
        self,
        inputs,
        padding_mask=None,
        return_attention_scores=False,
        training=None,
        mask=None,
    ):
        def attend(x):
            result = self._self_attention(
                x,
                padding_mask=padding_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                mask=mask if padding_mask is None else None,
            )
            if not return_attention_scores:
                result = (result,)
            out = self._self_attention_dropout(result[0], training=training)
            return (out,) + tuple(result[1:])

        x, extras = residual(
            inputs, self._self_attention_norm, self.norm_first, attend
        )
        x, _ = residual(
            x,
            self._feed_forward_norm,
            self.norm_first,
            lambda y: (self._feed_forward(y, training=training),),
        )
        if return_attention_scores:
            return x, extras[0]
        return x

    def compute_output_spec(self, *args, **kwargs):
        return keras.Operation.compute_output_spec(self, *args, **kwargs)

    def compute_output_shape(self, inputs_shape):
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
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
