import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.models import VQVAE


def crosses(count=1797, size=16, seed=0):
    """Digit-like test images without a dataset (the backend test
    environments have no scikit-learn): each a bright horizontal and a
    bright vertical stroke, two pixels wide, at random places, on black;
    pixels in [0, 255]."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 1), "float32")
    for image, (row, col), level in zip(
        images,
        rng.integers(1, size - 3, (count, 2)),
        rng.uniform(150, 255, count),
        strict=True,
    ):
        image[row : row + 2, 2:-2] = level
        image[2:-2, col : col + 2] = level
    return images


def small(**kwargs):
    keras.utils.set_random_seed(0)
    config = dict(image_size=16, num_codes=32, code_dim=16, hidden=32)
    return VQVAE(**{**config, **kwargs})


def test_codes_are_a_grid_of_ints_and_decode_is_the_forward_pass():
    model, x = small(), crosses()[:8]
    codes = ops.convert_to_numpy(model.encode(x))
    assert codes.shape == (8, 4, 4) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < 32
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.decode(codes)),
        np.clip(ops.convert_to_numpy(model(x)), 0, 255),
        atol=1e-3,
    )


def test_loss_is_pixel_error_plus_commitment():
    model, x = small(), crosses()[:16]
    model.compile(keras.optimizers.Adam())
    loss = model.evaluate(x, verbose=0)
    reconstruction = ops.convert_to_numpy(model(x))
    latents = ops.convert_to_numpy(model._latents(x))
    quantized = ops.convert_to_numpy(
        model.quantizer.lookup(model.quantizer.codes(latents))
    )
    expected = np.mean(((x - reconstruction) / 255) ** 2) + 0.25 * np.mean(
        (latents - quantized) ** 2
    )
    assert loss == pytest.approx(expected, rel=1e-4)


def test_training_reconstructs_and_uses_the_codebook():
    images = crosses()
    train, test = images[:1500], images[1500:]
    model = small()
    model.compile(keras.optimizers.Adam(3e-3))
    model.fit(train, epochs=8, batch_size=64, verbose=0)
    codes = model.encode(test)
    error = np.mean(
        ((ops.convert_to_numpy(model.decode(codes)) - test) / 255) ** 2
    )
    # Far better than drawing the average training digit every time.
    baseline = np.mean(((test - train.mean(0)) / 255) ** 2)
    assert error < 0.25 * baseline, (error, baseline)
    assert float(model.quantizer.perplexity(codes)) > 8


def test_saves_and_reloads(tmp_path):
    model, x = small(), crosses()[:8]
    model.save(tmp_path / "vq.keras")
    again = keras.saving.load_model(tmp_path / "vq.keras")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(again.encode(x)),
        ops.convert_to_numpy(model.encode(x)),
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(again(x)),
        ops.convert_to_numpy(model(x)),
        atol=1e-5,
    )


def test_bad_settings_and_inputs_are_named():
    with pytest.raises(ValueError, match="divisible"):
        VQVAE(image_size=10, downsamples=2)
    with pytest.raises(ValueError, match="channels"):
        small().encode(np.zeros((2, 16, 16, 3), "float32"))
