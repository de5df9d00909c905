import numpy as np
import pytest

from keras_transformer.layers import FeedForward
from tests.layer_test_case import run_layer_test


def test_layer_contract():
    run_layer_test(
        FeedForward,
        {"d_model": 8, "d_ff": 16, "dropout_rate": 0.1},
        input_shape=(2, 5, 8),
        expected_output_shape=(2, 5, 8),
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matches_formula(activation):
    ffn = FeedForward(d_model=8, d_ff=16, activation=activation)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    out = np.asarray(ffn(x))
    w1, b1, w2, b2 = (np.asarray(w) for w in ffn.get_weights())
    hidden = x @ w1 + b1
    if activation == "relu":
        hidden = np.maximum(hidden, 0.0)
    else:
        from scipy.special import erf

        hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))
    np.testing.assert_allclose(out, hidden @ w2 + b2, atol=1e-5)


def test_each_position_is_independent():
    ffn = FeedForward(d_model=8, d_ff=16)
    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype("float32")
    np.testing.assert_allclose(ffn(x)[:, 2], ffn(x[:, 2:3])[:, 0], atol=1e-6)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"d_ff=0"):
        FeedForward(d_model=8, d_ff=0)
    with pytest.raises(ValueError, match=r"d_model=-2"):
        FeedForward(d_model=-2, d_ff=8)
    with pytest.raises(ValueError, match=r"dropout_rate=-0\.1"):
        FeedForward(d_model=8, d_ff=8, dropout_rate=-0.1)
    with pytest.raises(
        ValueError, match=r"d_model=8.*inputs.shape=\(2, 5, 6\)"
    ):
        FeedForward(d_model=8, d_ff=8)(np.zeros((2, 5, 6), "float32"))
