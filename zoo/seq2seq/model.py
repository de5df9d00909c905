"""The recurrent baseline the Transformer replaced: an LSTM encoder-decoder,
with or without (Bahdanau) attention.

Encoder: a bidirectional LSTM over the source embeddings; its last forward
and backward states, through a tanh layer, start the decoder. Decoder: an
LSTM cell fed, at each step, the previous target token's embedding and a
context vector:

- `attention="none"` (Cho et al., 2014): the context is the same at every
  step, the encoder's last forward and backward outputs concatenated: the
  whole source squeezed into one fixed-size vector.
- `attention="bahdanau"` (Bahdanau et al., 2015): the context is a new
  weighted mean of all the encoder outputs at every step, the weights a
  softmax over `v^T tanh(W s_{t-1} + U h_j)` of the decoder's previous
  state `s_{t-1}` and each source position's output `h_j`.

The output layer reads the new decoder state, the context and the token
embedding (a "deep output" with one tanh layer), then scores the target
vocabulary.

The model speaks the decoding protocol of `keras_transformer.generation`
(`start_decoding`, `decode_step`, `beam_state_keys`), so the library's
greedy and beam search, `export.Translator` and the zoo's BLEU decode it
as they decode a `Transformer`.
"""

import keras
from keras import layers
from keras import ops

from zoo.seq2seq.config import ATTENTION


@keras.saving.register_keras_serializable(package="zoo")
class Seq2SeqLSTM(keras.Model):
    """LSTM encoder-decoder: `(source ids, target-input ids)` -> logits
    `(batch, target length, tgt_vocab_size)`, float32.

    Args:
        src_vocab_size, tgt_vocab_size: int. Vocabulary sizes.
        units: int. LSTM width (each direction of the encoder, and the
            decoder).
        embedding_dim: int. Width of the token embeddings.
        attention: `"none"` or `"bahdanau"`.
        dropout_rate: float in [0, 1). On the embeddings and before the
            output layer.
        max_length: int. Longest source or target, in tokens.
        pad_id: int. The padding id of both vocabularies.
    """

    def __init__(
        self,
        src_vocab_size,
        tgt_vocab_size,
        units=256,
        embedding_dim=256,
        attention="bahdanau",
        dropout_rate=0.2,
        max_length=128,
        pad_id=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in ATTENTION:
            raise ValueError(
                f"`attention` must be one of {ATTENTION}. Received: "
                f"attention={attention!r}"
            )
        for name, value in (
            ("src_vocab_size", src_vocab_size),
            ("tgt_vocab_size", tgt_vocab_size),
            ("units", units),
            ("embedding_dim", embedding_dim),
            ("max_length", max_length),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int. Received: "
                    f"{name}={value!r}"
                )
        if not 0 <= dropout_rate < 1:
            raise ValueError(
                "`dropout_rate` must be in [0, 1). Received: "
                f"dropout_rate={dropout_rate!r}"
            )
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        self.units = units
        self.embedding_dim = embedding_dim
        self.attention = attention
        self.dropout_rate = float(dropout_rate)
        self.max_length = max_length
        self.pad_id = int(pad_id)

        self._src_embedding = layers.Embedding(
            src_vocab_size, embedding_dim, name="src_embedding"
        )
        self._tgt_embedding = layers.Embedding(
            tgt_vocab_size, embedding_dim, name="tgt_embedding"
        )
        self._encoder = layers.Bidirectional(
            layers.LSTM(units, return_sequences=True, return_state=True),
            name="encoder",
        )
        self._bridge_h = layers.Dense(units, "tanh", name="bridge_h")
        self._bridge_c = layers.Dense(units, "tanh", name="bridge_c")
        self._cell = layers.LSTMCell(units, name="decoder_cell")
        if attention == "bahdanau":
            self._query = layers.Dense(units, use_bias=False, name="att_query")
            self._keys = layers.Dense(units, name="att_keys")
            self._score = layers.Dense(1, use_bias=False, name="att_score")
        self._dropout = layers.Dropout(dropout_rate)
        self._deep_output = layers.Dense(
            embedding_dim, "tanh", name="deep_output"
        )
        self._logits = layers.Dense(
            tgt_vocab_size, dtype="float32", name="logits"
        )
        self.build()

    def build(self, input_shape=None):
        if self.built and input_shape is None:
            return
        src = ops.ones((1, 2), "int32")
        state = self.start_decoding(src, 2)
        self.decode_step(state, ops.ones((1, 1), "int32"), 0)
        self.built = True

    # -- the encoder and one decoder step --

    def _encode(self, src_ids, training=None):
        mask = ops.not_equal(src_ids, self.pad_id)
        x = self._dropout(self._src_embedding(src_ids), training=training)
        outputs, fh, fc, bh, bc = self._encoder(x, mask=mask, training=training)
        h = self._bridge_h(ops.concatenate([fh, bh], -1))
        c = self._bridge_c(ops.concatenate([fc, bc], -1))
        # Padded positions hold no output: zeros, never attended to.
        outputs = outputs * ops.cast(mask, outputs.dtype)[..., None]
        state = {"h": h, "c": c, "src_mask": mask}
        if self.attention == "bahdanau":
            state["memory"] = outputs
            state["keys"] = self._keys(outputs)
        else:
            state["summary"] = ops.concatenate([fh, bh], -1)
        return state

    def _context(self, state, h):
        """The context vector(s) for decoder state(s) `h`: `(batch, units)`
        gives `(batch, 2 units)`, `(batch, steps, units)` gives one per
        step; with the attention weights over the source (or `None`)."""
        steps = len(h.shape) == 3
        if self.attention == "none":
            summary = state["summary"]
            if steps:
                summary = ops.repeat(summary[:, None], ops.shape(h)[1], 1)
            return summary, None
        query = self._query(h)
        keys, mask = state["keys"], state["src_mask"]
        if steps:
            query, keys, mask = query[:, :, None], keys[:, None], mask[:, None]
        else:
            query = query[:, None]
        scores = self._score(ops.tanh(keys + query))[..., 0]
        scores = ops.where(mask, ops.cast(scores, "float32"), -1e9)
        weights = ops.softmax(scores, axis=-1)
        weights = ops.cast(weights, state["memory"].dtype)
        context = ops.einsum("b...s,bsd->b...d", weights, state["memory"])
        return context, weights

    def _recur(self, state, embedded, training=None):
        """One decoder step: the context from the previous state, then the
        LSTM cell on `[embedding; context]` -> `(h, c, context)`."""
        context, _ = self._context(state, state["h"])
        _, (h, c) = self._cell(
            ops.concatenate([embedded, context], -1),
            [state["h"], state["c"]],
            training=training,
        )
        return h, c, context

    def _output(self, h, context, embedded, training=None):
        features = ops.concatenate([h, context, embedded], -1)
        features = self._dropout(features, training=training)
        return self._logits(self._deep_output(features))

    # -- training: teacher forcing over the whole target --

    def call(self, inputs, training=None, return_attention_scores=False):
        """`(src_ids, tgt_in_ids)` -> logits; with
        `return_attention_scores`, also the attention weights
        `(batch, target length, source length)` (`None` without
        attention)."""
        src_ids, tgt_ids = inputs
        state = self._encode(src_ids, training=training)
        embedded = self._dropout(
            self._tgt_embedding(tgt_ids), training=training
        )
        fixed = {k: v for k, v in state.items() if k not in ("h", "c")}

        def scan_step(carry, x):
            h, c = carry
            h, c, _ = self._recur({**fixed, "h": h, "c": c}, x, training)
            return (h, c), (h, c)

        _, (states, _) = ops.scan(
            scan_step,
            (state["h"], state["c"]),
            ops.transpose(embedded, (1, 0, 2)),
        )
        states = ops.transpose(states, (1, 0, 2))  # s_1 .. s_T
        # Step t's context came from s_{t-1}: recomputed for all steps at
        # once (the scan keeps only the states).
        previous = ops.concatenate([state["h"][:, None], states[:, :-1]], 1)
        context, weights = self._context(state, previous)
        logits = self._output(states, context, embedded, training)
        if return_attention_scores:
            return logits, weights
        return logits

    # -- the decoding protocol of keras_transformer.generation --

    def start_decoding(self, src_ids, max_length):
        """The encoder runs once; the state is the decoder's `h`, `c` and
        what the source gives every step (a flat dict, batch first)."""
        if not 1 <= int(max_length) <= self.max_length:
            raise ValueError(
                f"`max_length` must be in [1, {self.max_length}]. "
                f"Received: max_length={max_length}"
            )
        return self._encode(ops.convert_to_tensor(src_ids, "int32"))

    def beam_state_keys(self):
        """Only the decoder's state belongs to one hypothesis."""
        return ("h", "c")

    def decode_step(self, state, token_ids, index):
        """Feeds `token_ids` `(batch, 1)` -> `(logits (batch, vocab),
        new_state)`; `index` is not needed by a recurrence."""
        del index
        embedded = self._tgt_embedding(token_ids[:, 0])
        h, c, context = self._recur(state, embedded)
        return self._output(h, context, embedded), {**state, "h": h, "c": c}

    def get_config(self):
        config = super().get_config()
        config.update(
            src_vocab_size=self.src_vocab_size,
            tgt_vocab_size=self.tgt_vocab_size,
            units=self.units,
            embedding_dim=self.embedding_dim,
            attention=self.attention,
            dropout_rate=self.dropout_rate,
            max_length=self.max_length,
            pad_id=self.pad_id,
        )
        return config
