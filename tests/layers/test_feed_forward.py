import math

import numpy as np
import pytest
from keras import ops

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
    out = ops.convert_to_numpy(ffn(x))
    w1, b1, w2, b2 = ffn.get_weights()
    hidden = x @ w1 + b1
    if activation == "relu":
        hidden = np.maximum(hidden, 0.0)
    else:
        erf = np.vectorize(math.erf)
        hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))
    np.testing.assert_allclose(out, hidden @ w2 + b2, atol=1e-5)


def test_each_position_is_independent():
    ffn = FeedForward(d_model=8, d_ff=16)
    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(ffn(x))[:, 2],
        ops.convert_to_numpy(ffn(x[:, 2:3]))[:, 0],
        atol=1e-6,
    )


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


def test_layer_contract_with_declared_initializers():
    run_layer_test(
        FeedForward,
        {
            "d_model": 8,
            "d_ff": 16,
            "kernel_initializer": "he_normal",
            "output_kernel_initializer": {
                "class_name": "RandomNormal",
                "config": {"stddev": 0.01},
            },
        },
        input_shape=(2, 5, 8),
        expected_output_shape=(2, 5, 8),
    )


@pytest.mark.parametrize("output_scale", [None, 0.5])
def test_output_kernel_initializer_starts_w2_only(output_scale):
    """With `W_1 = 1`, `W_2 = c` (zero biases) and tanh, a vector of ones
    maps to `d_ff * tanh(d_model) * c` in every unit: the value tells
    which kernel got which initializer (`c = 1` when
    `output_kernel_initializer` is left to follow `kernel_initializer`;
    swapped initializers would give `d_ff * tanh(d_model * c)`)."""
    import keras

    ffn = FeedForward(
        d_model=4,
        d_ff=8,
        activation="tanh",
        kernel_initializer=keras.initializers.Constant(1.0),
        output_kernel_initializer=(
            None
            if output_scale is None
            else keras.initializers.Constant(output_scale)
        ),
    )
    out = ops.convert_to_numpy(ffn(np.ones((1, 1, 4), "float32")))
    c = 1.0 if output_scale is None else output_scale
    # float32 against float64: a few units in the last place (JAX's tanh
    # differs from NumPy's by one).
    np.testing.assert_allclose(
        out, np.full((1, 1, 4), 8 * np.tanh(4) * c), rtol=1e-6
    )


def test_each_kernel_draws_its_own_values_and_old_configs_load():
    ffn = FeedForward(d_model=8, d_ff=8, kernel_initializer="random_normal")
    ffn.build((None, 8))
    w1, _, w2, _ = ffn.get_weights()
    assert not np.allclose(w1, w2)
    # A config saved before the initializer arguments existed.
    config = ffn.get_config()
    del config["kernel_initializer"], config["output_kernel_initializer"]
    old = FeedForward.from_config(config)
    assert old.get_config()["kernel_initializer"]["class_name"] == (
        "GlorotUniform"
    )
    assert old.output_kernel_initializer is None
