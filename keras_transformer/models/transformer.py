"""The encoder-decoder Transformer (Vaswani et al., 2017) for translation."""

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers import masks
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers._quantization import float32_policy
from keras_transformer.layers.decoder_layer import DecoderLayer
from keras_transformer.layers.dropout import Dropout
from keras_transformer.layers.encoder_layer import EncoderLayer
from keras_transformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from keras_transformer.models._boundary import InputChecks
from keras_transformer.models._gpt_parts import TiedLogits
from keras_transformer.models._id_inputs import IdInputs
from keras_transformer.models._id_inputs import id_spec
from keras_transformer.models._lora import LoRA


@keras.saving.register_keras_serializable(package="keras_transformer")
class Transformer(LoRA, IdInputs, InputChecks, keras.Model):
    """Sequence-to-sequence Transformer: source ids -> encoder -> context;
    target ids so far + context -> decoder -> next-token logits.

    Training uses teacher forcing: the decoder reads the reference target
    shifted right (`[START] y1 ... yn`) and predicts `y1 ... yn [END]`,
    every position at once; the look-ahead mask keeps position `i` from
    seeing the tokens after it. Decoding (greedy or beam search) goes
    through `keras_transformer.generation`, which calls `start_decoding`
    once per source and `decode_step` once per new token.

    Id `pad_id` (default 0) is padding in both vocabularies: padded source
    positions are masked out of every attention, and padded target
    positions only see real tokens (their logits are ignored by the masked
    loss).

    Args:
        src_vocab_size: int. Source vocabulary size.
        tgt_vocab_size: int. Target vocabulary size (number of logits).
        num_layers: int. Encoder blocks, and decoder blocks unless
            `num_decoder_layers` is given.
        d_model: int. Token width.
        num_heads: int. Attention heads; must divide `d_model`.
        d_ff: int. Feed-forward width.
        dropout_rate: float in [0, 1). Defaults to `0.1`.
        max_length: int. Longest source or target accepted, in tokens.
            Defaults to `128`.
        num_decoder_layers: int. Defaults to `num_layers`.
        norm_first: bool. Pre-norm blocks, with a final layer norm after
            each stack; `False` (default) is the paper's post-norm.
        position: `"sinusoidal"` (default) or `"learned"` positions.
        pad_id: int. Padding id. Defaults to `0`.
        activation: feed-forward activation. Defaults to `"relu"`.
        layer_norm_epsilon: float. Defaults to `1e-6`.
        share_embeddings: bool. One token table for source, target and
            output (logits `x E^T`, no bias), as in the paper; needs its
            joint vocabulary (`src_vocab_size == tgt_vocab_size`). With
            learned positions the position table is shared too. Defaults
            to `False`.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Call arguments:
        inputs: `(src_ids, tgt_in_ids)`, integer tensors `(batch, src_len)`
            and `(batch, tgt_len)` of ids in `[0, src_vocab_size)` and
            `[0, tgt_vocab_size)`, lengths in `[1, max_length]`; a dict
            with keys `"source"` and `"target"` works too.
        training: bool. Enables dropout.

    Checks: as for `GPT`: eager calls check the ids in Python; `fit`,
    `evaluate`, `predict` and the `*_on_batch` methods check both id
    tensors and the labels `y` (in `[0, tgt_vocab_size)`) before Keras
    compiles the step, a `tf.data.Dataset` batch by batch.

    `model.export(path)` serves int32 ids of any batch size and length:
    `serve((source, target))`, or `source=` and `target=` by signature.

    Returns:
        Float32 logits `(batch, tgt_len, tgt_vocab_size)`, also under
        mixed precision.

    Example:

    >>> import numpy as np
    >>> model = Transformer(src_vocab_size=20, tgt_vocab_size=30,
    ...                     num_layers=1, d_model=8, num_heads=2, d_ff=16)
    >>> src = np.array([[2, 5, 6, 3, 0]])
    >>> tgt_in = np.array([[2, 7, 8]])
    >>> tuple(model((src, tgt_in)).shape)
    (1, 3, 30)
    """

    def __init__(
        self,
        src_vocab_size,
        tgt_vocab_size,
        num_layers,
        d_model,
        num_heads,
        d_ff,
        dropout_rate=0.1,
        max_length=128,
        num_decoder_layers=None,
        norm_first=False,
        position="sinusoidal",
        pad_id=0,
        activation="relu",
        layer_norm_epsilon=1e-6,
        share_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check = _validation.check_positive_int
        self.src_vocab_size = check("src_vocab_size", src_vocab_size)
        self.tgt_vocab_size = check("tgt_vocab_size", tgt_vocab_size)
        self.num_layers = check("num_layers", num_layers)
        self.num_decoder_layers = check(
            "num_decoder_layers",
            num_layers if num_decoder_layers is None else num_decoder_layers,
        )
        self.d_model = check("d_model", d_model)
        self.num_heads = check("num_heads", num_heads)
        _validation.check_divisible(d_model, num_heads)
        self.d_ff = check("d_ff", d_ff)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.max_length = check("max_length", max_length)
        self.norm_first = bool(norm_first)
        self.position = position
        self.pad_id = _validation.check_pad_id(pad_id)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.share_embeddings = bool(share_embeddings)
        if self.share_embeddings:
            _validation.check_shared_vocabulary(src_vocab_size, tgt_vocab_size)

        policy = self.dtype_policy

        def embedding(vocab_size, name):
            return TokenAndPositionEmbedding(
                vocab_size,
                d_model,
                max_length,
                position=position,
                mask_zero=False,
                dtype=policy,
                name=name,
            )

        def block(cls, i, prefix):
            return cls(
                d_model,
                num_heads,
                d_ff,
                dropout_rate=self.dropout_rate,
                norm_first=self.norm_first,
                activation=self.activation,
                layer_norm_epsilon=self.layer_norm_epsilon,
                dtype=policy,
                name=f"{prefix}_{i}",
            )

        if self.share_embeddings:
            # One layer, tracked (and saved) once under both names.
            self._src_embedding = embedding(src_vocab_size, "shared_embedding")
            self._tgt_embedding = self._src_embedding
        else:
            self._src_embedding = embedding(src_vocab_size, "source_embedding")
            self._tgt_embedding = embedding(tgt_vocab_size, "target_embedding")
        self._src_dropout, self._tgt_dropout = (
            Dropout(self.dropout_rate, dtype=policy, name=name)
            for name in ("source_dropout", "target_dropout")
        )
        self._encoder_layers = [
            block(EncoderLayer, i, "encoder_layer") for i in range(num_layers)
        ]
        self._decoder_layers = [
            block(DecoderLayer, i, "decoder_layer")
            for i in range(self.num_decoder_layers)
        ]
        if self.norm_first:
            self._encoder_norm, self._decoder_norm = (
                keras.layers.LayerNormalization(
                    epsilon=self.layer_norm_epsilon, dtype=policy, name=name
                )
                for name in ("encoder_norm", "decoder_norm")
            )
        # float32 logits computed in float32, also under mixed precision.
        if self.share_embeddings:
            self._tied_head = TiedLogits(
                lambda: self._tgt_embedding.token_embeddings, name="tied_head"
            )
        else:
            self._head = keras.layers.Dense(
                tgt_vocab_size, dtype=float32_policy(policy), name="head"
            )
        self._build_for_ids()  # the weights exist from the start, as GPT's

    def build(self, inputs_shape=None):
        if self.built:
            return
        ids = (None, None)
        tokens = (None, None, self.d_model)
        self._src_embedding.build(ids)
        if not self.share_embeddings:
            self._tgt_embedding.build(ids)
        for layer in self._encoder_layers:
            layer.build(tokens)
        for layer in self._decoder_layers:
            layer.build(tokens, tokens)
        if self.norm_first:
            self._encoder_norm.build(tokens)
            self._decoder_norm.build(tokens)
        if not self.share_embeddings:
            self._head.build(tokens)
        self.built = True

    def _id_specs(self):
        return (id_spec("source"), id_spec("target"))

    # -- the two halves --

    def _check_ids(self, name, ids):
        _validation.check_model_ids(self.name, name, ids, self._limit(name))

    def _limit(self, name):
        if name == "src_ids":
            return ("src_vocab_size", self.src_vocab_size)
        return ("tgt_vocab_size", self.tgt_vocab_size)

    def _input_rules(self, x, y):
        """The ids and labels `fit`, `predict`, ... check (see
        `keras_transformer.models._boundary`)."""
        rules = []
        if isinstance(x, dict) and {"source", "target"} <= set(x):
            x = (x["source"], x["target"])
        if isinstance(x, (list, tuple)) and len(x) == 2:
            for name, ids in zip(("src_ids", "tgt_ids"), x, strict=True):
                rules.append((name, ids, "ids", self._limit(name)))
        if y is not None:
            rules.append(("y", y, "labels", self._limit("tgt_ids")))
        return rules

    def encode(self, src_ids, training=None, return_attention_scores=False):
        """Source ids `(batch, src_len)` -> `(context, src_padding_mask)`,
        the encoder's output `(batch, src_len, d_model)` and the
        `(batch, src_len)` mask of real tokens; with
        `return_attention_scores`, also a list of each layer's weights."""
        src_ids = ops.convert_to_tensor(src_ids)
        self._check_ids("src_ids", src_ids)
        padding = masks.padding_mask(src_ids, self.pad_id)
        x = self._src_dropout(self._src_embedding(src_ids), training=training)
        scores = []
        for layer in self._encoder_layers:
            if return_attention_scores:
                x, weights = layer(
                    x,
                    padding_mask=padding,
                    return_attention_scores=True,
                    training=training,
                )
                scores.append(weights)
            else:
                x = layer(x, padding_mask=padding, training=training)
        if self.norm_first:
            x = self._encoder_norm(x)
        if return_attention_scores:
            return x, padding, scores
        return x, padding

    def decode(
        self,
        tgt_ids,
        context,
        context_padding_mask,
        training=None,
        return_attention_scores=False,
    ):
        """Target ids `(batch, tgt_len)` and the encoder's output ->
        float32 logits `(batch, tgt_len, tgt_vocab_size)`, every position
        at once (teacher forcing, or decoding without a cache); with
        `return_attention_scores`, also a list of each layer's
        `{"self_attention", "cross_attention"}` weights."""
        tgt_ids = ops.convert_to_tensor(tgt_ids)
        self._check_ids("tgt_ids", tgt_ids)
        padding = masks.padding_mask(tgt_ids, self.pad_id)
        x = self._tgt_dropout(self._tgt_embedding(tgt_ids), training=training)
        scores = []
        for layer in self._decoder_layers:
            result = layer(
                x,
                context,
                padding_mask=padding,
                context_padding_mask=context_padding_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            if return_attention_scores:
                x, weights = result
                scores.append(weights)
            else:
                x = result
        logits = self._logits(x)
        if return_attention_scores:
            return logits, scores
        return logits

    def _logits(self, x):
        if self.norm_first:
            x = self._decoder_norm(x)
        if self.share_embeddings:
            return self._tied_head(x)
        return self._head(x)

    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            src_ids, tgt_ids = inputs["source"], inputs["target"]
        elif isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            src_ids, tgt_ids = inputs
        else:
            raise ValueError(
                f"{self.name} takes (src_ids, tgt_in_ids) or a dict with "
                f"'source' and 'target'. Received: {type(inputs).__name__}"
            )
        context, padding = self.encode(src_ids, training=training)
        return self.decode(tgt_ids, context, padding, training=training)

    # -- cached decoding --

    def start_decoding(self, src_ids, max_length):
        """Decoding state for `src_ids`: the encoder runs once, each decoder
        layer's cross-attention keys/values are computed once, and each
        gets an empty self-attention cache of `max_length` tokens.

        A flat dict of tensors whose first axis is the batch, so that beam
        search can reorder or tile it with one `take` per entry.
        """
        if not 1 <= int(max_length) <= self.max_length:
            raise ValueError(
                f"`max_length` must be in [1, {self.max_length}] (the "
                f"model's max_length). Received: max_length={max_length}"
            )
        context, padding = self.encode(src_ids, training=False)
        batch = ops.shape(context)[0]
        state = {"context_padding_mask": padding}
        for i, layer in enumerate(self._decoder_layers):
            state[f"cross_cache_{i}"] = layer.compute_cross_attention_cache(
                context
            )
            state[f"self_cache_{i}"] = layer.init_cache(batch, int(max_length))
        return state

    def beam_state_keys(self):
        """The decoding-state entries that belong to one hypothesis: each
        decoder layer's self-attention cache, written by the tokens
        decoded so far. Beam search reorders these with its beams; the
        cross-attention caches and the source mask depend only on the
        source, which all the beams of a row share."""
        return tuple(f"self_cache_{i}" for i in range(self.num_decoder_layers))

    def decode_step(self, state, token_ids, index):
        """Feeds `token_ids` `(batch, 1)` at position `index` (scalar) ->
        `(logits (batch, tgt_vocab_size) float32, new_state)`."""
        x = self._tgt_embedding(token_ids, start_index=index)
        new_state = dict(state)
        for i, layer in enumerate(self._decoder_layers):
            x, new_state[f"self_cache_{i}"] = layer(
                x,
                context_padding_mask=state["context_padding_mask"],
                cache=state[f"self_cache_{i}"],
                cache_index=index,
                cross_attention_cache=state[f"cross_cache_{i}"],
            )
        return self._logits(x)[:, -1], new_state

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "src_vocab_size": self.src_vocab_size,
                "tgt_vocab_size": self.tgt_vocab_size,
                "num_layers": self.num_layers,
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "d_ff": self.d_ff,
                "dropout_rate": self.dropout_rate,
                "max_length": self.max_length,
                "num_decoder_layers": self.num_decoder_layers,
                "norm_first": self.norm_first,
                "position": self.position,
                "pad_id": self.pad_id,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "share_embeddings": self.share_embeddings,
            }
        )
        return config
