"""Token embedding scaled by sqrt(d_model), plus positions."""

import math

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers._initializers import distinct
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers.positional_encoding import PositionalEncoding

POSITION_KINDS = ("sinusoidal", "learned")


@keras.saving.register_keras_serializable(package="keras_transformer")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Turns token ids into vectors that also say where each token stands.

    `x = Embedding(ids) * sqrt(d_model) + P`, where `P` is the sinusoidal
    encoding of the paper or a learned `(max_length, d_model)` table. The
    scaling keeps the token signal from being drowned by the sinusoids
    (`scale_tokens=False` leaves it out, as GPT-2 does with two learned
    tables).

    Args:
        vocab_size: int. Number of token ids.
        d_model: int. Width of every token vector.
        max_length: int. Longest sequence accepted.
        position: `"sinusoidal"` (default) or `"learned"`.
        mask_zero: bool. Id 0 is padding: the output carries a Keras mask
            that is false there. Defaults to `True`.
        embeddings_initializer: initializer of the token (and learned
            position) tables. Defaults to `"uniform"`.
        scale_tokens: bool. Multiply the token vectors by sqrt(d_model),
            the paper's convention (default); GPT-2 does not, and starts
            both tables small instead.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: integer tensor `(batch, length)` of ids in
            `[0, vocab_size)`, `length <= max_length`.
        start_index: int or scalar tensor. Position of `inputs[:, 0]`, for
            decoding one token at a time. Defaults to `0`.

    Checks: a float dtype, or a length above `max_length` when it is known
    when tracing, is a `ValueError` everywhere. Ids outside the vocabulary
    are a `ValueError` when their values are known (NumPy, eager); in a
    TensorFlow graph an assert fails the step; under XLA (where asserts
    are dropped and lookups clamp) they give NaN vectors. With learned
    positions, a traced length beyond `max_length` fails the position
    slice (XLA: "Expected size[0] in [0, max_length]").

    Returns:
        A float tensor `(batch, length, d_model)`.

    Example:

    >>> import numpy as np
    >>> embed = TokenAndPositionEmbedding(vocab_size=10, d_model=4,
    ...                                   max_length=8)
    >>> out = embed(np.array([[3, 4, 0]]))
    >>> tuple(out.shape), np.asarray(out._keras_mask).tolist()
    ((1, 3, 4), [[True, True, False]])
    """

    def __init__(
        self,
        vocab_size,
        d_model,
        max_length,
        position="sinusoidal",
        mask_zero=True,
        embeddings_initializer="uniform",
        scale_tokens=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = _validation.check_positive_int(
            "vocab_size", vocab_size
        )
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.max_length = _validation.check_positive_int(
            "max_length", max_length
        )
        if position not in POSITION_KINDS:
            raise ValueError(
                f"`position` must be one of {POSITION_KINDS}. "
                f"Received: position={position!r}"
            )
        self.position = position
        self.mask_zero = bool(mask_zero)
        self.scale_tokens = bool(scale_tokens)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )
        self.supports_masking = self.mask_zero
        self._token_embedding = keras.layers.Embedding(
            vocab_size,
            d_model,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        if position == "learned":
            self._position_embedding = keras.layers.Embedding(
                max_length,
                d_model,
                embeddings_initializer=distinct(self.embeddings_initializer, 1),
                dtype=self.dtype_policy,
                name="position_embedding",
            )
        else:
            self._position_embedding = PositionalEncoding(
                max_length, dtype=self.dtype_policy, name="position_encoding"
            )

    def build(self, inputs_shape):
        _validation.check_rank(self.name, "inputs", inputs_shape, 2)
        self._token_embedding.build(inputs_shape)
        if self.position == "learned":
            self._position_embedding.build((self.max_length,))
        else:
            self._position_embedding.build(
                tuple(inputs_shape) + (self.d_model,)
            )

    @property
    def token_embeddings(self):
        """The `(vocab_size, d_model)` token table (before the sqrt(d_model)
        scaling), e.g. to tie an output layer to it. After `quantize`, the
        table as the lookup sees it: the stored int8/int4 rows scaled back
        to floats by the layer's own lookup."""
        table = self._token_embedding
        if table.quantization_mode is None:
            return table.embeddings
        return table(ops.arange(self.vocab_size, dtype="int32"))

    def call(self, inputs, start_index=0):
        length = inputs.shape[1]
        _validation.check_length(self.name, length, self.max_length)
        _validation.check_start(self.name, start_index, length, self.max_length)
        inputs, valid = _validation.guard_ids("inputs", inputs, self.vocab_size)
        x = self._token_embedding(inputs)
        if valid is not None:
            # Traced: an id outside the vocabulary gives NaN, not the row
            # an XLA gather would clamp it to. (`expand_dims`, not
            # `valid[..., None]`: TFLite slices no booleans.)
            valid = ops.expand_dims(valid, -1)
            x = ops.where(valid, x, ops.cast(float("nan"), x.dtype))
        if self.scale_tokens:
            x = ops.multiply(x, ops.cast(math.sqrt(self.d_model), x.dtype))
        if self.position == "sinusoidal":
            return self._position_embedding(x, start_index=start_index)
        # Positions are sliced from [0, max_length), not computed: a longer
        # traced length fails the slice (also under XLA, where a lookup of
        # position >= max_length would silently read the last row).
        positions = ops.slice(
            ops.arange(self.max_length, dtype="int32"),
            (ops.cast(start_index, "int32"),),
            (ops.shape(inputs)[1],),
        )
        return ops.add(x, self._position_embedding(positions)[None])

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape) + (self.d_model,)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "vocab_size": self.vocab_size,
                "d_model": self.d_model,
                "max_length": self.max_length,
                "position": self.position,
                "mask_zero": self.mask_zero,
                "scale_tokens": self.scale_tokens,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
