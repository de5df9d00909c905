"""The decoder-only Transformer (GPT) for language modelling."""

import math

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers._quantization import float32_policy
from keras_transformer.layers.decoder_layer import DecoderLayer
from keras_transformer.layers.dropout import Dropout
from keras_transformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from keras_transformer.models._boundary import InputChecks
from keras_transformer.models._gpt_parts import GPT2_STD
from keras_transformer.models._gpt_parts import TiedLogits
from keras_transformer.models._gpt_parts import fresh_normal
from keras_transformer.models._id_inputs import IdInputs
from keras_transformer.models._id_inputs import id_spec
from keras_transformer.models._lora import LoRA


@keras.saving.register_keras_serializable(package="keras_transformer")
class GPT(LoRA, IdInputs, InputChecks, keras.Model):
    """Decoder-only Transformer: token ids -> next-token logits.

    A stack of `DecoderLayer(use_cross_attention=False)` blocks: masked
    self-attention (each position sees itself and the tokens before it)
    and a feed-forward network, pre-norm by default with a final layer
    norm, as in GPT-2. Position `i`'s logits predict token `i + 1`, so one
    forward pass over a sequence trains every position at once.

    Padding: put it on the right. A position never attends to the tokens
    after it, so right padding cannot change a real position's logits
    (the padded positions' own logits are for the loss to ignore).

    Initialization is GPT-2's, declared to the layers it applies to: every
    projection kernel starts from N(0, 0.02), except the two per block that
    write into the residual stream (the attention's `W_O` and the
    feed-forward's `W_2`, each block's `output_kernel_initializer`), which
    start from N(0, 0.02 / sqrt(2 num_layers)) so that the stream's
    variance does not grow with depth; the token and position tables start
    from N(0, 0.02) too. (On nanoGPT's CPU baseline this lowered the
    validation loss from 1.933 to 1.902.) The weights are made when the
    model is constructed.

    Generation reads a state of per-layer key/value caches: `start_decoding`
    makes an empty one, `decode_step` feeds one token (or a chunk, such as
    the prompt) and returns the last position's logits; each new token then
    costs one position of work per layer instead of a re-run of the prefix.

    Args:
        vocab_size: int. Tokens in the vocabulary (number of logits).
        max_length: int. Longest sequence (context window), in tokens.
        num_layers: int. Decoder blocks.
        d_model: int. Token width.
        num_heads: int. Attention heads; must divide `d_model`.
        d_ff: int. Feed-forward width.
        dropout_rate: float in [0, 1). Defaults to `0.1`.
        norm_first: bool. Pre-norm blocks with a final layer norm (default,
            as GPT-2); `False` gives post-norm blocks.
        tie_embeddings: bool. Score the vocabulary with the token embedding
            matrix (`logits = h E^T`) instead of a separate output layer:
            fewer parameters, a common choice for word-level vocabularies.
            Defaults to `False`.
        position: `"learned"` (default, as GPT) or `"sinusoidal"`.
        activation: feed-forward activation. Defaults to `"gelu"` (exact);
            GPT-2 itself is `keras_transformer.activations.gelu_approximate`
            with `tie_embeddings=True` (see `keras_transformer.interop`).
        layer_norm_epsilon: float. Defaults to `1e-5`.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Call arguments:
        inputs: integer ids `(batch, length)` in `[0, vocab_size)`,
            `1 <= length <= max_length`.
        training: bool. Enables dropout.
        return_attention_scores: bool. Also return a list with each
            block's self-attention weights `(batch, num_heads, length,
            length)` (zero above the diagonal).

    Checks: a bad input is a `ValueError` naming it. In an eager call the
    ids are checked in Python. `fit`, `evaluate`, `predict` and the
    `*_on_batch` methods check `x` (ids) and `y` (labels in
    `[0, vocab_size)`) before Keras compiles the step: arrays at once,
    a `tf.data.Dataset` batch by batch in its pipeline. Inside a traced
    call the embedding's checks apply (see `TokenAndPositionEmbedding`).
    `model.export(path)` serves int32 ids of any batch size and length.

    Returns:
        Float32 logits `(batch, length, vocab_size)`, also under mixed
        precision; `(logits, attention)` with `return_attention_scores`.

    Example:

    >>> import numpy as np
    >>> model = GPT(vocab_size=30, max_length=16, num_layers=1, d_model=8,
    ...             num_heads=2, d_ff=16)
    >>> tuple(model(np.array([[5, 6, 7]])).shape)
    (1, 3, 30)
    """

    def __init__(
        self,
        vocab_size,
        max_length,
        num_layers,
        d_model,
        num_heads,
        d_ff,
        dropout_rate=0.1,
        norm_first=True,
        tie_embeddings=False,
        position="learned",
        activation="gelu",
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check = _validation.check_positive_int
        self.vocab_size = check("vocab_size", vocab_size)
        self.max_length = check("max_length", max_length)
        self.num_layers = check("num_layers", num_layers)
        self.d_model = check("d_model", d_model)
        self.num_heads = check("num_heads", num_heads)
        _validation.check_divisible(d_model, num_heads)
        self.d_ff = check("d_ff", d_ff)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.norm_first = bool(norm_first)
        self.tie_embeddings = bool(tie_embeddings)
        self.position = position
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

        policy = self.dtype_policy
        self._embedding = TokenAndPositionEmbedding(
            vocab_size,
            d_model,
            max_length,
            position=position,
            # Id 0 is a token like any other (no padding mask: see above).
            mask_zero=False,
            # GPT-2's start: both tables small (std 0.02), tokens unscaled,
            # so that positions count from the first step.
            embeddings_initializer=keras.initializers.RandomNormal(
                stddev=GPT2_STD
            ),
            scale_tokens=False,
            dtype=policy,
            name="embedding",
        )
        self._embedding_dropout = Dropout(
            self.dropout_rate, dtype=policy, name="embedding_dropout"
        )
        residual_std = GPT2_STD / math.sqrt(2 * self.num_layers)
        self._blocks = [
            DecoderLayer(
                d_model,
                num_heads,
                d_ff,
                dropout_rate=self.dropout_rate,
                norm_first=self.norm_first,
                use_cross_attention=False,
                activation=self.activation,
                layer_norm_epsilon=self.layer_norm_epsilon,
                kernel_initializer=fresh_normal(GPT2_STD),
                output_kernel_initializer=fresh_normal(residual_std),
                dtype=policy,
                name=f"decoder_layer_{i}",
            )
            for i in range(num_layers)
        ]
        if self.norm_first:
            self._final_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=policy, name="final_norm"
            )
        # float32 logits computed in float32, also under mixed precision.
        if self.tie_embeddings:
            self._tied_head = TiedLogits(
                lambda: self._embedding.token_embeddings, name="tied_head"
            )
        else:
            self._head = keras.layers.Dense(
                vocab_size,
                kernel_initializer=keras.initializers.RandomNormal(
                    stddev=GPT2_STD
                ),
                dtype=float32_policy(policy),
                name="head",
            )
        # The weights are made now, eagerly: the initializers' seed
        # generators cannot advance inside a compiled (XLA) function.
        self._build_for_ids()

    def build(self, inputs_shape=None):
        if self.built:
            return
        tokens = (None, None, self.d_model)
        self._embedding.build((None, None))
        for block in self._blocks:
            block.build(tokens)
        if self.norm_first:
            self._final_norm.build(tokens)
        if not self.tie_embeddings:
            self._head.build(tokens)
        self.built = True

    def _id_specs(self):
        return id_spec("inputs")

    def _check_ids(self, ids):
        _validation.check_model_ids(
            self.name, "inputs", ids, ("vocab_size", self.vocab_size)
        )

    def _input_rules(self, x, y):
        """The ids and labels `fit`, `predict`, ... check (see
        `keras_transformer.models._boundary`)."""
        limit = ("vocab_size", self.vocab_size)
        rules = [("x", x, "ids", limit)]
        if y is not None:
            rules.append(("y", y, "labels", limit))
        return rules

    def _logits(self, x):
        if self.norm_first:
            x = self._final_norm(x)
        if self.tie_embeddings:
            return self._tied_head(x)
        return self._head(ops.cast(x, "float32"))

    def call(self, inputs, training=None, return_attention_scores=False):
        ids = ops.convert_to_tensor(inputs)
        self._check_ids(ids)
        x = self._embedding_dropout(self._embedding(ids), training=training)
        attention = []
        for block in self._blocks:
            if return_attention_scores:
                x, scores = block(
                    x, return_attention_scores=True, training=training
                )
                attention.append(scores["self_attention"])
            else:
                x = block(x, training=training)
        if return_attention_scores:
            return self._logits(x), attention
        return self._logits(x)

    # -- cached decoding --

    def start_decoding(self, batch_size, max_length):
        """An empty decoding state for `batch_size` rows of up to
        `max_length` tokens (prompt included): a flat dict of per-layer
        self-attention caches, first axis the batch."""
        if not 1 <= int(max_length) <= self.max_length:
            raise ValueError(
                f"`max_length` must be in [1, {self.max_length}] (the "
                f"model's max_length). Received: max_length={max_length}"
            )
        return {
            f"self_cache_{i}": block.init_cache(batch_size, int(max_length))
            for i, block in enumerate(self._blocks)
        }

    def beam_state_keys(self):
        """The decoding-state entries that belong to one hypothesis: every
        layer's self-attention cache (the whole state). A search that
        reorders its hypotheses reorders these entries with them."""
        return tuple(f"self_cache_{i}" for i in range(self.num_layers))

    def decode_step(self, state, token_ids, index):
        """Feeds `token_ids` `(batch, n)` at positions `index .. index+n-1`
        (a prompt in one pass, then one token at a time) ->
        `(logits (batch, vocab_size) float32 of the last one, new_state)`."""
        x = self._embedding(token_ids, start_index=index)
        new_state = dict(state)
        for i, block in enumerate(self._blocks):
            x, new_state[f"self_cache_{i}"] = block(
                x, cache=state[f"self_cache_{i}"], cache_index=index
            )
        return self._logits(x[:, -1]), new_state

    def generate(
        self,
        prompts,
        max_new_tokens,
        tokenizer=None,
        long_prompt="error",
        **kwargs,
    ):
        """Continues each prompt.

        A prompt and its new tokens must fit in the model's window: a
        prompt may have at most `max_length - max_new_tokens` tokens. A
        longer one is a `ValueError` naming its length, unless
        `long_prompt="crop"`, which keeps its last
        `max_length - max_new_tokens` tokens (see
        `keras_transformer.generation.fit_prompts`; `TextGenerator`
        applies the same policy).

        Args:
            prompts: a list of id lists (any lengths), `(batch, length)`
                ids, or, with `tokenizer`, a string or a list of strings.
            max_new_tokens: int. Most tokens generated per prompt.
            tokenizer: the model's tokenizer (such as `CharTokenizer`);
                needed for string prompts.
            long_prompt: `"error"` (default) or `"crop"`, for a prompt
                longer than `max_length - max_new_tokens` tokens.
            **kwargs: those of `keras_transformer.generation.sample`
                (`temperature`, `top_k`, `top_p`, `repetition_penalty`,
                `seed`, `stop_token_ids`, ...).

        Returns:
            For id prompts, a list with each prompt's new token ids (a
            stop token included when one ended the row); for string
            prompts, the generated text (one string for one prompt).
        """
        from keras_transformer.generation import sample

        single = isinstance(prompts, str)
        texts = single or (
            isinstance(prompts, (list, tuple))
            and len(prompts) > 0
            and all(isinstance(p, str) for p in prompts)
        )
        if texts:
            if tokenizer is None:
                raise ValueError(
                    "String prompts need the model's `tokenizer`: "
                    "generate(prompts, max_new_tokens, tokenizer=...)."
                )
            if getattr(tokenizer, "vocab_size", self.vocab_size) != (
                self.vocab_size
            ):
                raise ValueError(
                    f"The `tokenizer` has {tokenizer.vocab_size} tokens but "
                    f"the model expects vocab_size={self.vocab_size}. "
                    "Received: tokenizer.vocab_size="
                    f"{tokenizer.vocab_size}"
                )
            batch = [prompts] if single else list(prompts)
            ids = tokenizer.tokenize(batch)
            prompts = [row.numpy().tolist() for row in ids]
        tokens, lengths = sample(
            self, prompts, max_new_tokens, long_prompt=long_prompt, **kwargs
        )
        new = [row[:n].tolist() for row, n in zip(tokens, lengths, strict=True)]
        if not texts:
            return new
        text = [
            t.decode("utf-8")
            for t in tokenizer.detokenize(_ragged_ids(new)).numpy().tolist()
        ]
        return text[0] if single else text

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "vocab_size": self.vocab_size,
                "max_length": self.max_length,
                "num_layers": self.num_layers,
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "d_ff": self.d_ff,
                "dropout_rate": self.dropout_rate,
                "norm_first": self.norm_first,
                "tie_embeddings": self.tie_embeddings,
                "position": self.position,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


def _ragged_ids(rows):
    """A `tf.RaggedTensor` of int64 ids from a list of id lists."""
    import tensorflow as tf

    return tf.ragged.constant(rows, dtype=tf.int64, ragged_rank=1)
