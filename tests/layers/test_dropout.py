import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import Dropout
from tests.backend import compiled


def test_drops_at_the_rate_and_keeps_the_mean():
    layer = Dropout(0.3, seed=0)
    x = np.ones((200, 500), "float32")
    out = ops.convert_to_numpy(layer(x, training=True))
    dropped = np.mean(out == 0.0)
    assert abs(dropped - 0.3) < 0.01
    np.testing.assert_allclose(out[out != 0], 1.0 / 0.7, rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.02


def test_inference_is_identity_and_masks_differ_per_call():
    layer = Dropout(0.5, seed=0)
    x = np.ones((4, 64), "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x)), x)
    a = ops.convert_to_numpy(layer(x, training=True))
    b = ops.convert_to_numpy(layer(x, training=True))
    assert not np.array_equal(a, b)


def test_reproducible_with_a_seed_eager_and_in_xla():
    x = np.ones((200, 100), "float32")
    runs = []
    for jit in (False, True):
        for _ in range(2):
            layer = Dropout(0.5, seed=3)
            step = compiled(
                lambda t, d=layer: d(t, training=True), layer, jit_compile=jit
            )
            runs.append(ops.convert_to_numpy(step(x)))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[2], runs[3])
    assert abs(np.mean(runs[2] == 0) - 0.5) < 0.02


def test_behaves_like_keras_dropout_for_noise_shape():
    """`noise_shape=(None, 1, 8)` draws one keep/drop per (example,
    feature), shared along axis 1: each kept unit is `x / (1 - rate)`,
    each dropped one 0, at the rate."""
    rate = 0.3
    layer = Dropout(rate, noise_shape=(None, 1, 8), seed=1)
    assert isinstance(layer, keras.layers.Dropout)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, size=(500, 6, 8)).astype("float32")
    out = ops.convert_to_numpy(layer(x, training=True))
    kept = out != 0.0
    np.testing.assert_array_equal(kept, kept[:, :1].repeat(6, axis=1))
    np.testing.assert_allclose(
        out, np.where(kept, x / (1.0 - rate), 0.0), rtol=1e-6
    )
    draws = kept[:, 0]
    # 4000 independent draws: the kept fraction has standard deviation 0.007.
    assert abs(np.mean(draws) - (1.0 - rate)) < 0.03
    # Not shared along the other axes: each feature is kept in some
    # examples and dropped in others, and all 8 features of an example
    # are kept together with probability 0.7**8 = 0.06, not 0.7.
    assert np.all(draws.any(axis=0)) and not np.any(draws.all(axis=0))
    assert np.mean(draws.all(axis=1)) < 0.15
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer(x, training=False)), x
    )


def bits(seed, shape=(1_000_000,), jit=None):
    """The TensorFlow dropout's own generator (`_backend.random_bits`)."""
    import tensorflow as tf

    from keras_transformer._backend import random_bits

    def draw(s):
        return random_bits(tf, shape, s)

    if jit is not None:
        draw = tf.function(draw, jit_compile=jit)
    return np.asarray(draw(tf.constant(seed, tf.int32))).astype(np.uint64)


@pytest.mark.tensorflow
def test_random_bits_are_the_same_eager_graph_and_xla():
    eager = bits([5, 7], (300, 7))
    np.testing.assert_array_equal(eager, bits([5, 7], (300, 7), jit=False))
    np.testing.assert_array_equal(eager, bits([5, 7], (300, 7), jit=True))
    assert not np.array_equal(eager, bits([5, 8], (300, 7)))
    assert not np.array_equal(eager, bits([6, 7], (300, 7)))


@pytest.mark.tensorflow
def test_random_bits_look_uniform_and_independent():
    # 10^6 draws: a fair bit's mean has standard deviation 0.0005, a
    # correlation coefficient about 0.001.
    x = bits([0, 0])
    for b in range(32):
        assert abs(np.mean((x >> b) & 1) - 0.5) < 0.003, b
    top_byte = np.bincount((x >> 24).astype(int), minlength=256)
    expected = len(x) / 256
    chi2 = np.sum((top_byte - expected) ** 2 / expected)
    assert chi2 < 255 + 6 * np.sqrt(2 * 255)  # 255 degrees of freedom
    u = x / 2.0**32
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.006
    for other in ([0, 1], [1, 0], [1, 1], [2**31 - 1, -1]):
        v = bits(other) / 2.0**32
        assert abs(np.corrcoef(u, v)[0, 1]) < 0.006, other


def test_every_position_is_dropped_at_the_rate():
    layer = Dropout(0.1, seed=0)
    step = compiled(lambda t: layer(t, training=True), layer)
    x = np.ones((1000,), "float32")
    dropped = sum(ops.convert_to_numpy(step(x)) == 0 for _ in range(400))
    # Binomial(400, 0.1): mean 40, standard deviation 6.
    assert abs(dropped.mean() - 40) < 1
    assert dropped.min() > 40 - 5.5 * 6 and dropped.max() < 40 + 5.5 * 6
    for rate in (0.02, 0.5, 0.9):
        out = Dropout(rate, seed=1)(
            np.ones((500, 400), "float32"), training=True
        )
        out = ops.convert_to_numpy(out)
        assert abs(np.mean(out == 0) - rate) < 0.005, rate
