import keras
import numpy as np
import tensorflow as tf

from keras_transformer.layers import Dropout


def test_drops_at_the_rate_and_keeps_the_mean():
    layer = Dropout(0.3, seed=0)
    x = np.ones((200, 500), "float32")
    out = np.asarray(layer(x, training=True))
    dropped = np.mean(out == 0.0)
    assert abs(dropped - 0.3) < 0.01
    np.testing.assert_allclose(out[out != 0], 1.0 / 0.7, rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.02


def test_inference_is_identity_and_masks_differ_per_call():
    layer = Dropout(0.5, seed=0)
    x = np.ones((4, 64), "float32")
    np.testing.assert_array_equal(layer(x), x)
    a = np.asarray(layer(x, training=True))
    b = np.asarray(layer(x, training=True))
    assert not np.array_equal(a, b)


def test_reproducible_with_a_seed_eager_and_in_xla():
    x = tf.ones((200, 100))
    runs = []
    for jit in (False, True):
        for _ in range(2):
            layer = Dropout(0.5, seed=3)
            step = tf.function(lambda t, d=layer: d(t, training=True))
            if jit:
                step = tf.function(
                    lambda t, d=layer: d(t, training=True), jit_compile=True
                )
            runs.append(np.asarray(step(x)))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[2], runs[3])
    assert abs(np.mean(runs[2] == 0) - 0.5) < 0.02


def test_behaves_like_keras_dropout_for_noise_shape():
    layer = Dropout(0.5, noise_shape=(None, 1), seed=1)
    out = np.asarray(layer(np.ones((50, 4), "float32"), training=True))
    # whole rows are dropped together
    assert set(np.unique(out.std(axis=1))) == {0.0}
    assert isinstance(layer, keras.layers.Dropout)
