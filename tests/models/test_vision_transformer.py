import os

import keras
import numpy as np
import pytest

from keras_transformer.models import VisionTransformer
from tests.reference import layer_norm

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
    """With each pre-norm block's residual branches writing zeros, the
    encoder is the identity: token 0 is still the class token plus its
    position, which no image changes, while every other token (and their
    mean) carries the patches. The logits must equal the head applied to
    that class token, for every image."""
    model = VisionTransformer(**CONFIG)
    x = np.concatenate([images(seed=1), 255.0 - images(seed=2)])
    model(x)
    weights = {w.path.split("/", 1)[1]: w for w in model.weights}
    branch_outputs = [
        weight
        for path, weight in weights.items()
        if path.startswith("encoder_layer_")
        and ("/self_attention/output_" in path or "/output_dense/" in path)
    ]
    assert len(branch_outputs) == 4 * CONFIG["num_layers"]
    for weight in branch_outputs:
        weight.assign(np.zeros(weight.shape, "float32"))
    rng = np.random.default_rng(3)
    for name in ("final_norm/gamma", "final_norm/beta", "head/bias"):
        weight = weights[name]
        weight.assign(rng.normal(size=weight.shape).astype("float32"))

    def value(name):
        return keras.ops.convert_to_numpy(weights[name]).astype("float64")

    class_token = (
        value("position_embedding/class_token")
        + value("position_embedding/position_embedding")[0]
    )
    normed = layer_norm(
        class_token,
        value("final_norm/gamma"),
        value("final_norm/beta"),
        model.layer_norm_epsilon,
    )
    expected = normed @ value("head/kernel") + value("head/bias")
    logits = np.asarray(model(x))
    assert logits.shape == (4, 3)
    np.testing.assert_allclose(logits, np.tile(expected, (4, 1)), atol=1e-5)


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
