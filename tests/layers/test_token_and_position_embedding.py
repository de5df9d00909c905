import math

import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import TokenAndPositionEmbedding
from tests.layer_test_case import run_layer_test
from tests.layers.test_positional_encoding import closed_form


@pytest.mark.parametrize("position", ["sinusoidal", "learned"])
def test_layer_contract(position):
    run_layer_test(
        TokenAndPositionEmbedding,
        {
            "vocab_size": 20,
            "d_model": 8,
            "max_length": 16,
            "position": position,
        },
        input_shape=(2, 5),
        expected_output_shape=(2, 5, 8),
        input_dtype="int32",
    )


def test_sinusoidal_is_scaled_embedding_plus_encoding():
    layer = TokenAndPositionEmbedding(20, 8, max_length=16)
    ids = np.array([[3, 4, 5, 0]])
    out = ops.convert_to_numpy(layer(ids))
    table = ops.convert_to_numpy(layer._token_embedding.embeddings)
    expected = table[ids] * math.sqrt(8) + closed_form(4, 8)[None]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_learned_positions_and_start_index():
    layer = TokenAndPositionEmbedding(20, 8, max_length=16, position="learned")
    ids = np.array([[3, 4, 5, 6]])
    out = ops.convert_to_numpy(layer(ids))
    tokens = ops.convert_to_numpy(layer._token_embedding.embeddings)
    positions = ops.convert_to_numpy(layer._position_embedding.embeddings)
    np.testing.assert_allclose(
        out, tokens[ids] * math.sqrt(8) + positions[None, :4], atol=1e-5
    )
    step = ops.convert_to_numpy(layer(ids[:, 2:3], start_index=2))
    np.testing.assert_allclose(step[:, 0], out[:, 2], atol=1e-6)


def test_unscaled_tokens_as_gpt2():
    layer = TokenAndPositionEmbedding(
        20, 8, max_length=16, position="learned", scale_tokens=False
    )
    ids = np.array([[3, 4, 5, 6]])
    tokens = (
        ops.convert_to_numpy(layer(ids))
        - ops.convert_to_numpy(layer._position_embedding.embeddings)[None, :4]
    )
    np.testing.assert_allclose(
        tokens, ops.convert_to_numpy(layer.token_embeddings)[ids], atol=1e-6
    )
    assert layer.get_config()["scale_tokens"] is False


def test_mask_zero():
    ids = np.array([[3, 0, 0]])
    layer = TokenAndPositionEmbedding(20, 8, max_length=16)
    assert ops.convert_to_numpy(layer.compute_mask(ids)).tolist() == [
        [True, False, False]
    ]
    no_mask = TokenAndPositionEmbedding(20, 8, max_length=16, mask_zero=False)
    assert no_mask.compute_mask(ids) is None


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"position='rotary'"):
        TokenAndPositionEmbedding(20, 8, 16, position="rotary")
    with pytest.raises(ValueError, match=r"vocab_size=0"):
        TokenAndPositionEmbedding(0, 8, 16)
    for position in ("learned", "sinusoidal"):
        layer = TokenAndPositionEmbedding(20, 8, 4, position=position)
        with pytest.raises(ValueError, match=r"length=5, max_length=4"):
            layer(np.ones((1, 5), "int32"))
    with pytest.raises(ValueError, match=r"rank 2.*inputs.shape=\(1, 2, 3\)"):
        TokenAndPositionEmbedding(20, 8, 16)(np.ones((1, 2, 3), "int32"))
