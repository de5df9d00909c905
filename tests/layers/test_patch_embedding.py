import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import PatchEmbedding
from keras_transformer.layers import PatchPositionEmbedding
from tests.layer_test_case import run_layer_test


def test_patch_embedding_contract():
    run_layer_test(
        PatchEmbedding,
        {"patch_size": 2, "d_model": 8},
        input_shape=(2, 4, 6, 3),
        expected_output_shape=(2, 6, 8),
    )


def test_patches_are_row_major_and_projected():
    layer = PatchEmbedding(patch_size=2, d_model=5)
    images = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype("f4")
    out = ops.convert_to_numpy(layer(images))
    kernel, bias = layer.get_weights()
    for r in range(2):
        for c in range(3):
            patch = images[:, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2, :]
            expected = patch.reshape(2, -1) @ kernel + bias
            np.testing.assert_allclose(out[:, r * 3 + c], expected, atol=1e-5)


def test_patch_embedding_errors():
    with pytest.raises(ValueError, match=r"height.*\(5, 6, 3\).*patch_size=2"):
        PatchEmbedding(2, 8)(np.zeros((1, 5, 6, 3), "float32"))
    with pytest.raises(ValueError, match=r"patch_size=0"):
        PatchEmbedding(0, 8)
    with pytest.raises(ValueError, match=r"rank 4"):
        PatchEmbedding(2, 8)(np.zeros((4, 6, 3), "float32"))


def test_position_embedding_contract():
    run_layer_test(
        PatchPositionEmbedding,
        {"grid_size": (2, 3)},
        input_shape=(2, 6, 8),
        expected_output_shape=(2, 7, 8),
    )


def test_class_token_first_then_positions():
    layer = PatchPositionEmbedding(grid_size=(2, 2))
    x = np.random.default_rng(0).normal(size=(3, 4, 8)).astype("float32")
    out = ops.convert_to_numpy(layer(x))
    table = ops.convert_to_numpy(layer.position_embedding)
    token = ops.convert_to_numpy(layer.class_token)
    np.testing.assert_allclose(
        out[:, 0], np.broadcast_to(token + table[0], (3, 8))
    )
    np.testing.assert_allclose(out[:, 1:], x + table[1:], atol=1e-6)


def test_positions_resize_to_another_grid():
    layer = PatchPositionEmbedding(grid_size=(2, 2))
    x = np.zeros((1, 4, 8), "float32")
    same = ops.convert_to_numpy(layer(x, grid_size=(2, 2)))
    np.testing.assert_allclose(same, ops.convert_to_numpy(layer(x)))
    bigger = ops.convert_to_numpy(
        layer(np.zeros((1, 16, 8), "float32"), grid_size=(4, 4))
    )
    assert bigger.shape == (1, 17, 8)
    # A constant position grid stays constant when resized.
    layer.position_embedding.assign(np.ones((5, 8), "float32"))
    out = ops.convert_to_numpy(
        layer(np.zeros((1, 9, 8), "float32"), grid_size=(3, 3))
    )
    np.testing.assert_allclose(out[0, 1:], 1.0, atol=1e-5)


def test_position_embedding_errors():
    with pytest.raises(ValueError, match=r"grid_size=\(2, 0\)"):
        PatchPositionEmbedding(grid_size=(2, 0))
    layer = PatchPositionEmbedding(grid_size=(2, 2))
    with pytest.raises(ValueError, match=r"5 tokens for grid_size=\(2, 2\)"):
        layer(np.zeros((1, 5, 8), "float32"))
