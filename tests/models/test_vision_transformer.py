import os

import keras
import numpy as np
import pytest
from keras import ops

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
    expected = ops.convert_to_numpy(model(x))
    path = os.path.join(tmp_path, "vit.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded(x)), expected, atol=1e-6
    )
    assert reloaded.get_config() == model.get_config()


def test_fits_and_matches_under_mixed_precision():
    model = VisionTransformer(**CONFIG)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    history = model.fit(images(8), np.arange(8) % 3, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # bfloat16 keeps 8 bits of mantissa: on pixels in [0, 255], logits
    # near 1 move by up to 0.13 with some trained weights (the same weights
    # on TensorFlow, JAX and PyTorch alike); float16 by 0.003.
    for policy, atol in (("mixed_float16", 0.02), ("mixed_bfloat16", 0.2)):
        mixed = VisionTransformer(**CONFIG, dtype=policy)
        mixed(images())
        mixed.set_weights(model.get_weights())
        logits = mixed(images())
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
        np.testing.assert_allclose(
            ops.convert_to_numpy(logits),
            ops.convert_to_numpy(model(images())),
            atol=atol,
        )


def test_attention_maps_and_other_image_sizes():
    model = VisionTransformer(**CONFIG)
    logits, attention = model(images(), return_attention_scores=True)
    np.testing.assert_allclose(
        ops.convert_to_numpy(logits),
        ops.convert_to_numpy(model(images())),
        atol=1e-6,
    )
    assert len(attention) == 2
    assert attention[0].shape == (2, 2, 5, 5)  # class token + 2x2 patches
    maps = ops.convert_to_numpy(model.class_token_attention(images()))
    assert maps.shape == (2, 2, 2)
    # A 12x12 image has a 3x3 patch grid: the positions are resized.
    bigger = ops.convert_to_numpy(model(images(size=12)))
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
        and (
            "/self_attention/attention_output/" in path
            or "/output_dense/" in path
        )
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
    logits = ops.convert_to_numpy(model(x))
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
