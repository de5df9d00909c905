import os

import keras
import numpy as np
import pytest

from keras_transformer.models import VisionTransformer

CONFIG = dict(
    image_size=8,
    patch_size=4,
    num_classes=3,
    num_layers=2,
    d_model=8,
    num_heads=2,
    d_ff=16,
    channels=1,
)


def images(n=2, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 1)).astype("float32")


def test_saves_and_reloads_without_custom_objects(tmp_path):
    model = VisionTransformer(**CONFIG)
    x = images()
    expected = np.asarray(model(x))
    path = os.path.join(tmp_path, "vit.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded(x), expected, atol=1e-6)
    assert reloaded.get_config() == model.get_config()


def test_fits_and_matches_under_mixed_precision():
    model = VisionTransformer(**CONFIG)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    history = model.fit(images(8), np.arange(8) % 3, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for policy in ("mixed_float16", "mixed_bfloat16"):
        mixed = VisionTransformer(**CONFIG, dtype=policy)
        mixed(images())
        mixed.set_weights(model.get_weights())
        logits = mixed(images())
        assert logits.dtype == "float32"
        np.testing.assert_allclose(logits, model(images()), atol=0.1)


def test_attention_maps_and_other_image_sizes():
    model = VisionTransformer(**CONFIG)
    logits, attention = model(images(), return_attention_scores=True)
    np.testing.assert_allclose(logits, model(images()), atol=1e-6)
    assert len(attention) == 2
    assert attention[0].shape == (2, 2, 5, 5)  # class token + 2x2 patches
    maps = np.asarray(model.class_token_attention(images()))
    assert maps.shape == (2, 2, 2)
    # A 12x12 image has a 3x3 patch grid: the positions are resized.
    bigger = np.asarray(model(images(size=12)))
    assert bigger.shape == (2, 3) and np.all(np.isfinite(bigger))


def test_class_token_is_what_gets_classified():
    """The head reads token 0 only: with attention confined to each token
    (one layer, patches changed), logits change through attention alone."""
    model = VisionTransformer(**CONFIG)
    x = images()
    changed = x.copy()
    changed[:, :4, :4] = 0.0  # one patch
    assert not np.allclose(model(x), model(changed))


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"patch_size=3"):
        VisionTransformer(**{**CONFIG, "patch_size": 3})
    with pytest.raises(ValueError, match=r"d_model=8, num_heads=3"):
        VisionTransformer(**{**CONFIG, "num_heads": 3})
    model = VisionTransformer(**CONFIG)
    with pytest.raises(ValueError, match=r"images.shape=\(2, 8, 8, 3\)"):
        model(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"height.*patch_size=4"):
        model(np.zeros((2, 10, 8, 1), "float32"))
