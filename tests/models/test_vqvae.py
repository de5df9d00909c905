import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.models import VQVAE


def digits(size=16):
    """scikit-learn's 8x8 digits, enlarged, pixels in [0, 255]."""
    from sklearn.datasets import load_digits

    images = load_digits().images[..., None].astype("float32") * (255 / 16)
    images = ops.image.resize(images, (size, size))
    return np.clip(ops.convert_to_numpy(images), 0, 255)


def small(**kwargs):
    keras.utils.set_random_seed(0)
    config = dict(image_size=16, num_codes=32, code_dim=16, hidden=32)
    return VQVAE(**{**config, **kwargs})


def test_codes_are_a_grid_of_ints_and_decode_is_the_forward_pass():
    model, x = small(), digits()[:8]
    codes = ops.convert_to_numpy(model.encode(x))
    assert codes.shape == (8, 4, 4) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < 32
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.decode(codes)),
        ops.convert_to_numpy(model(x)),
        atol=1e-3,
    )


def test_loss_is_pixel_error_plus_commitment():
    model, x = small(), digits()[:16]
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
    images = digits()
    train, test = images[:1500], images[1500:]
    model = small()
    model.compile(keras.optimizers.Adam(2e-3))
    model.fit(train, epochs=6, batch_size=64, verbose=0)
    codes = model.encode(test)
    error = np.mean(
        ((ops.convert_to_numpy(model.decode(codes)) - test) / 255) ** 2
    )
    # Far better than drawing the average training digit every time.
    baseline = np.mean(((test - train.mean(0)) / 255) ** 2)
    assert error < 0.25 * baseline, (error, baseline)
    assert float(model.quantizer.perplexity(codes)) > 8


def test_saves_and_reloads(tmp_path):
    model, x = small(), digits()[:8]
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
