import keras
import numpy as np
import pytest

from keras_transformer.layers import PositionalEncoding
from tests.layer_test_case import run_layer_test


def closed_form(length, d_model, start=0, base=10000.0):
    """PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    pe = np.zeros((length, d_model))
    for pos in range(start, start + length):
        for i in range(0, d_model, 2):
            angle = pos / base ** (i / d_model)
            pe[pos - start, i] = np.sin(angle)
            if i + 1 < d_model:
                pe[pos - start, i + 1] = np.cos(angle)
    return pe


def test_layer_contract():
    run_layer_test(
        PositionalEncoding,
        {"max_length": 16},
        input_shape=(2, 5, 8),
        expected_output_shape=(2, 5, 8),
    )


@pytest.mark.parametrize("d_model", [4, 7, 16, 64])
def test_equals_closed_form(d_model):
    length = 50
    out = PositionalEncoding()(np.zeros((1, length, d_model), "float32"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out)[0],
        closed_form(length, d_model),
        atol=1e-5,
    )


def test_far_positions_and_base():
    layer = PositionalEncoding(max_length=2048, base=500)
    out = keras.ops.convert_to_numpy(layer(np.zeros((1, 2048, 32), "float32")))
    np.testing.assert_allclose(
        out[0, -8:], closed_form(2048, 32, base=500)[-8:], atol=5e-4
    )


def test_start_index_continues_the_sequence():
    layer = PositionalEncoding()
    full = keras.ops.convert_to_numpy(layer(np.zeros((1, 10, 8), "float32")))
    step = keras.ops.convert_to_numpy(
        layer(np.zeros((1, 1, 8), "float32"), start_index=7)
    )
    np.testing.assert_allclose(step[0, 0], full[0, 7], atol=1e-6)


def test_adds_to_inputs_and_keeps_the_mask():
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 0]])
    keep = ids != 0
    embedding = keras.layers.Embedding(10, 8, mask_zero=True)
    vectors = embedding(ids)
    layer = PositionalEncoding()
    out = layer(vectors)
    expected = keras.ops.convert_to_numpy(vectors) + closed_form(5, 8)[None]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), expected, atol=1e-5
    )
    out_mask = getattr(out, "_keras_mask", None)
    assert out_mask is not None, "the implicit mask was dropped"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out_mask), keep)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.compute_mask(vectors, keep)), keep
    )
    # In a model the mask reaches the next layer: a masked mean.
    inputs = keras.Input((5,), dtype="int32")
    encoded = PositionalEncoding()(embedding(inputs))
    pooled = keras.layers.GlobalAveragePooling1D()(encoded)
    model = keras.Model(inputs, pooled)
    masked_mean = (expected * keep[..., None]).sum(1) / keep.sum(1)[:, None]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(ids)), masked_mean, atol=1e-5
    )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_compute_dtype(policy):
    out = PositionalEncoding(dtype=policy)(np.zeros((1, 4, 8), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"length=9, max_length=8"):
        PositionalEncoding(max_length=8)(np.zeros((1, 9, 4), "float32"))
    with pytest.raises(ValueError, match=r"max_length=0"):
        PositionalEncoding(max_length=0)
    with pytest.raises(ValueError, match=r"base=1"):
        PositionalEncoding(base=1)
    with pytest.raises(ValueError, match=r"rank 3.*inputs.shape=\(1, 4\)"):
        PositionalEncoding()(np.zeros((1, 4), "float32"))
