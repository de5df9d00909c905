import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import EncoderLayer
from keras_transformer.layers import TokenAndPositionEmbedding
from tests import reference
from tests.backend import value_and_gradients
from tests.layer_test_case import run_layer_test

B, T, D, H, F = 2, 6, 8, 2, 16


def data(seed=0):
    x = np.random.default_rng(seed).normal(size=(B, T, D)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[0, -2:] = False
    return x, mask


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_contract(norm_first):
    run_layer_test(
        EncoderLayer,
        {"d_model": D, "num_heads": H, "d_ff": F, "norm_first": norm_first},
        input_shape=(B, T, D),
        expected_output_shape=(B, T, D),
        extra_inputs={"padding_mask": ((B, T), "bool")},
        padded_inputs={"padding_mask": "inputs"},
    )


def numpy_ffn(ffn, x):
    w1, b1, w2, b2 = ffn.get_weights()
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + b2


@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_residual_and_layer_norm_formula(norm_first):
    """Post-norm: LN(x + Sublayer(x)); pre-norm: x + Sublayer(LN(x))."""
    layer = EncoderLayer(D, H, F, norm_first=norm_first)
    x, mask = data()
    out = ops.convert_to_numpy(layer(x, padding_mask=mask))
    eps = layer.layer_norm_epsilon

    def norm(sublayer_norm, y):
        gamma, beta = sublayer_norm.get_weights()
        return reference.layer_norm(y, gamma, beta, eps)

    def attend(y):
        full = np.broadcast_to(mask[:, None, :], (B, T, T))
        return reference.multi_head_attention(
            layer._self_attention, y, y, full
        )[0]

    x = x.astype("float64")
    if norm_first:
        h = x + attend(norm(layer._self_attention_norm, x))
        expected = h + numpy_ffn(
            layer._feed_forward, norm(layer._feed_forward_norm, h)
        )
    else:
        h = norm(layer._self_attention_norm, x + attend(x))
        expected = norm(
            layer._feed_forward_norm, h + numpy_ffn(layer._feed_forward, h)
        )
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_attention_is_bidirectional():
    """The encoder has no look-ahead mask: early outputs see late tokens."""
    layer = EncoderLayer(D, H, F)
    x, _ = data()
    changed = x.copy()
    changed[:, -1] += 1.0
    assert not np.allclose(
        ops.convert_to_numpy(layer(x))[:, 0],
        ops.convert_to_numpy(layer(changed))[:, 0],
    )


def test_padding_length_does_not_change_real_outputs():
    """Through an implicit Keras mask (Embedding with mask_zero): the same
    sentence padded to two lengths gives the same outputs."""
    ids = keras.Input((None,), dtype="int32")
    x = TokenAndPositionEmbedding(20, D, max_length=16)(ids)
    model = keras.Model(ids, EncoderLayer(D, H, F)(x))
    short = np.array([[5, 6, 7, 0], [1, 2, 3, 4]])
    long = np.pad(short, ((0, 0), (0, 4)))
    a, b = ops.convert_to_numpy(model(short)), ops.convert_to_numpy(model(long))
    np.testing.assert_allclose(b[0, :3], a[0, :3], atol=1e-5)
    np.testing.assert_allclose(b[1, :4], a[1, :4], atol=1e-5)


def test_returns_attention_scores():
    layer = EncoderLayer(D, H, F)
    x, mask = data()
    out, scores = layer(x, padding_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(
        ops.convert_to_numpy(out),
        ops.convert_to_numpy(layer(x, padding_mask=mask)),
        atol=1e-6,
    )
    assert scores.shape == (B, H, T, T)
    assert np.all(ops.convert_to_numpy(scores)[0, :, :, -2:] == 0.0)


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_all_padding_row_stays_finite(policy):
    layer = EncoderLayer(D, H, F, dtype=policy)
    x, _ = data()
    mask = np.ones((B, T), bool)
    mask[0] = False

    def output():
        out = layer(x, padding_mask=mask, training=True)
        return ops.cast(out, "float32")

    assert np.all(np.isfinite(ops.convert_to_numpy(output())))
    loss, grads = value_and_gradients(
        lambda: ops.sum(output()), layer.trainable_weights
    )
    assert np.isfinite(loss)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)


def test_dropout_follows_training():
    layer = EncoderLayer(D, H, F, dropout_rate=0.5)
    x, _ = data()
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)),
        ops.convert_to_numpy(layer(x, training=False)),
        atol=1e-6,
    )
    assert not np.allclose(
        ops.convert_to_numpy(layer(x, training=True)),
        ops.convert_to_numpy(layer(x)),
        atol=1e-3,
    )


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"d_model=10, num_heads=4"):
        EncoderLayer(d_model=10, num_heads=4, d_ff=8)
    with pytest.raises(ValueError, match=r"d_ff=0"):
        EncoderLayer(d_model=8, num_heads=2, d_ff=0)
    with pytest.raises(
        ValueError, match=r"d_model=8.*inputs.shape=\(2, 6, 4\)"
    ):
        EncoderLayer(d_model=8, num_heads=2, d_ff=8)(
            np.zeros((2, 6, 4), "float32")
        )
    with pytest.raises(ValueError, match=r"rank 3.*inputs.shape=\(6, 8\)"):
        EncoderLayer(d_model=8, num_heads=2, d_ff=8)(
            np.zeros((6, 8), "float32")
        )
