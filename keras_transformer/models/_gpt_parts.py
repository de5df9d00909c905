"""Pieces of the GPT model: its initialization and its tied output layer
(which `Transformer` with `share_embeddings=True` uses too)."""

import keras
from keras import ops

# GPT-2's standard deviation of the projections and embeddings at start.
GPT2_STD = 0.02


def fresh_normal(stddev):
    """N(0, stddev) drawing new values at every call (its seed generator
    advances), so that the kernels one layer makes with it (Q, K and V of
    an attention layer) differ: an unseeded Keras initializer repeats its
    numbers at every call."""
    return keras.initializers.RandomNormal(
        stddev=stddev, seed=keras.random.SeedGenerator()
    )


class TiedLogits(keras.layers.Layer):
    """`x E^T` with the token table `E` read in float32: as a float32
    layer, it reads the table outside the mixed-precision autocast of the
    model's call. Holds no weights (`table` is a function, not tracked)."""

    def __init__(self, table, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self._table = table
        # No weights to make: built as it is (`quantize` skips it).
        self.built = True

    def call(self, x):
        table = ops.convert_to_tensor(self._table())
        return ops.matmul(ops.cast(x, "float32"), ops.transpose(table))
