"""`gelu_approximate`: GPT-2's tanh GELU, and it saves with a model."""

import math
import os

import keras
import numpy as np
from keras import ops

import keras_transformer
from keras_transformer.activations import gelu_approximate
from keras_transformer.layers import FeedForward
from keras_transformer.models import GPT


def tanh_gelu(x):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), in float64."""
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3)))


def test_is_the_tanh_form_not_the_exact_one():
    x = np.linspace(-5.0, 5.0, 201).astype("float32")
    got = ops.convert_to_numpy(gelu_approximate(x))
    np.testing.assert_allclose(got, tanh_gelu(x.astype("float64")), atol=1e-6)
    exact = ops.convert_to_numpy(keras.activations.get("gelu")(x))
    assert np.abs(got - exact).max() > 4e-4


def test_hand_checked_values():
    x = np.array([-1.0, 0.0, 1.0, 2.0], "float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(gelu_approximate(x)),
        [-0.158808, 0.0, 0.841192, 1.954598],
        atol=1e-6,
    )


def test_serializes_by_its_registered_name():
    config = keras.activations.serialize(gelu_approximate)
    assert config["config"] == "keras_transformer>gelu_approximate"
    assert keras.activations.get(config) is gelu_approximate
    assert keras_transformer.activations.gelu_approximate is gelu_approximate


def test_layer_config_round_trip():
    layer = FeedForward(d_model=8, d_ff=16, activation=gelu_approximate)
    again = FeedForward.from_config(layer.get_config())
    assert again.activation is gelu_approximate


def test_gpt_with_it_saves_and_reloads_without_custom_objects(tmp_path):
    model = GPT(
        vocab_size=20,
        max_length=8,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        tie_embeddings=True,
        activation=gelu_approximate,
    )
    ids = np.array([[1, 2, 3, 4]], "int32")
    path = os.path.join(tmp_path, "gpt.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.activation is gelu_approximate
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded(ids)),
        ops.convert_to_numpy(model(ids)),
        atol=1e-6,
    )
