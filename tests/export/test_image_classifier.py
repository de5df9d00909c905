"""`ImageClassifier`: PNG/JPEG bytes in a fresh process that has only
TensorFlow give the probabilities `model.predict` gives on the same
pixels, converted to the model's channels and size."""

import base64
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_transformer.export import ImageClassifier
from keras_transformer.export.image_classifier import LUMA_WEIGHTS
from keras_transformer.models import VisionTransformer

LABELS = {1: ["zero", "one", "two"], 3: ["cat", "dog", "ship", "frog"]}

# The fresh process: keras_transformer and zoo cannot be imported, and
# loading and running the SavedModels imports no Keras module that
# TensorFlow had not imported already.
SERVE = textwrap.dedent(
    """
    import base64, json, sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras_transformer", "zoo"):
                raise ImportError(name + " must not be needed")

    sys.meta_path.insert(0, Refuse())
    import tensorflow as tf

    keras_before = {m for m in sys.modules if m.split(".")[0] == "keras"}
    requests = json.load(open(sys.argv[1]))
    models = {}
    results = {}
    for name, (path, images) in requests.items():
        if path not in models:
            models[path] = tf.saved_model.load(path)
        serve = models[path].signatures["serving_default"]
        images = tf.constant([base64.b64decode(i) for i in images], tf.string)
        try:
            out = serve(images=images)
        except tf.errors.InvalidArgumentError as e:
            results[name] = {"error": e.message}
            continue
        results[name] = {
            "probabilities": out["probabilities"].numpy().tolist(),
            "shape": out["probabilities"].shape.as_list(),
            "class_index": out["class_index"].numpy().tolist(),
            "label": [t.decode() for t in out["label"].numpy()],
        }
    keras_after = {m for m in sys.modules if m.split(".")[0] == "keras"}
    assert keras_after == keras_before, sorted(keras_after - keras_before)
    assert "keras_transformer" not in sys.modules
    print(json.dumps(results))
    """
)


def tiny_model(channels):
    keras.utils.set_random_seed(channels)
    return VisionTransformer(
        image_size=8,
        patch_size=2,
        num_classes=len(LABELS[channels]),
        num_layers=1,
        d_model=16,
        num_heads=2,
        d_ff=32,
        dropout_rate=0.0,
        channels=channels,
    )


def images(seed, shape):
    return np.random.default_rng(seed).integers(0, 256, shape, "uint8")


def png(pixels):
    return tf.io.encode_png(pixels).numpy()


def jpeg(pixels):
    return tf.io.encode_jpeg(pixels).numpy()


def grey(rgb):
    return (rgb.astype("float32") * np.float32(LUMA_WEIGHTS)).sum(-1)[..., None]


def resized(pixels):
    return tf.image.resize(pixels, (8, 8), antialias=True).numpy()


def probabilities(model, pixels):
    if len(pixels) == 0:  # predict refuses an empty batch
        return np.zeros((0, model.num_classes), "float32")
    logits = model.predict(np.asarray(pixels, "float32"), verbose=0)
    return tf.nn.softmax(logits).numpy()


# name -> (channels, encoded images, the pixels the model should see).
def cases():
    g = images(0, (3, 8, 8, 1))
    c = images(1, (3, 8, 8, 3))
    big_g, big_c = images(2, (16, 12, 1)), images(3, (5, 20, 3))
    rgb = images(4, (8, 8, 3))
    decoded = [tf.io.decode_jpeg(jpeg(x)).numpy() for x in (g[0], c[0])]
    return {
        "grey png": (1, [png(x) for x in g], g),
        "rgb png": (3, [png(x) for x in c], c),
        "grey jpeg": (1, [jpeg(g[0])], decoded[:1]),
        "rgb jpeg": (3, [jpeg(c[0])], decoded[1:]),
        "grey resized": (1, [png(big_g)], [resized(big_g)]),
        "rgb resized": (3, [png(big_c)], [resized(big_c)]),
        "rgb to grey": (1, [png(rgb), png(g[1])], [grey(rgb), g[1]]),
        "grey to rgb": (3, [png(g[2])], [np.tile(g[2], (1, 1, 3))]),
        "empty batch": (1, [], np.zeros((0, 8, 8, 1))),
        "not an image": (1, [png(g[0]), b"GIF89a not supported"], None),
        "damaged png": (3, [png(c[1])[:40]], None),
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`(models, results)`: the two models, and what their SavedModels
    answered to every case in a fresh process."""
    root = tmp_path_factory.mktemp("image_classifier")
    models, paths = {}, {}
    for channels in (1, 3):
        models[channels] = tiny_model(channels)
        path = ImageClassifier(models[channels], LABELS[channels]).export(
            root / f"channels{channels}"
        )
        paths[channels] = str(path)
    requests = {
        name: (paths[ch], [base64.b64encode(b).decode() for b in data])
        for name, (ch, data, _) in cases().items()
    }
    (root / "requests.json").write_text(json.dumps(requests))
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(root / "requests.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return models, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "name",
    [
        "grey png",
        "rgb png",
        "grey jpeg",
        "rgb jpeg",
        "grey resized",
        "rgb resized",
        "rgb to grey",
        "grey to rgb",
        "empty batch",
    ],
)
def test_saved_model_gives_what_predict_gives(served, name):
    models, results = served
    channels, _, pixels = cases()[name]
    got = results[name]
    expected = probabilities(models[channels], pixels)
    assert got["shape"] == list(expected.shape)
    got_probabilities = np.reshape(got["probabilities"], got["shape"])
    np.testing.assert_allclose(got_probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(got["class_index"], expected.argmax(-1))
    assert got["label"] == [LABELS[channels][i] for i in expected.argmax(-1)]


def test_saved_model_refuses_bytes_it_cannot_decode(served):
    _, results = served
    error = results["not an image"]["error"]
    assert "Image 1 of the batch is not a PNG or JPEG file" in error
    assert "PNG" in results["damaged png"]["error"]


def test_pixels_follow_input_range():
    model = tiny_model(1)
    x = images(5, (2, 8, 8, 1))
    data = tf.constant([png(i) for i in x])
    raw = ImageClassifier(model, LABELS[1]).pixels(data).numpy()
    np.testing.assert_array_equal(raw, x)
    unit = ImageClassifier(model, LABELS[1], input_range=(0, 1)).pixels(data)
    np.testing.assert_allclose(unit, x / 255.0, atol=1e-7)
    signed = ImageClassifier(model, LABELS[1], input_range=(-1, 1))
    np.testing.assert_allclose(signed.pixels(data), x / 127.5 - 1, atol=1e-6)


def test_call_from_python(served):
    models, _ = served
    x = images(6, (2, 8, 8, 3))
    classifier = ImageClassifier(models[3], LABELS[3])
    out = classifier([png(i) for i in x])
    expected = probabilities(models[3], x)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    assert out["label"] == [LABELS[3][i] for i in expected.argmax(-1)]
    assert classifier(png(x[0]))["label"] == out["label"][:1]
    with pytest.raises(ValueError, match="Image 1 of the batch is not a PNG"):
        classifier([png(x[0]), b"BM bitmap"])
    with pytest.raises(ValueError, match="bytes of image files"):
        classifier(["a string"])


def test_bad_settings_get_clear_errors(served):
    models, _ = served
    model = models[1]
    with pytest.raises(ValueError, match="3 classes. Received: 2 labels"):
        ImageClassifier(model, ["a", "b"])
    with pytest.raises(ValueError, match=r"distinct. Received: \['a'\]"):
        ImageClassifier(model, ["a", "a", "b"])
    with pytest.raises(ValueError, match="non-empty strings"):
        ImageClassifier(model, ["a", 1, "b"])
    for bad in ((1, 0), (0, float("inf")), (0,), "01", None, (True, 2)):
        with pytest.raises(ValueError, match="input_range"):
            ImageClassifier(model, LABELS[1], input_range=bad)
    with pytest.raises(TypeError, match="VisionTransformer"):
        ImageClassifier(keras.Sequential([keras.layers.Dense(3)]), LABELS[1])
    two = VisionTransformer(8, 4, 3, 1, 8, 2, 16, channels=2)
    with pytest.raises(ValueError, match="channels=2"):
        ImageClassifier(two, LABELS[1])


def test_alpha_is_dropped_and_16_bit_scaled_down():
    rgba, grey_alpha = images(7, (8, 8, 4)), images(8, (8, 8, 2))
    data = tf.constant([png(rgba), png(grey_alpha)])
    to_grey = ImageClassifier(tiny_model(1), LABELS[1]).pixels(data).numpy()
    np.testing.assert_allclose(to_grey[0], grey(rgba[..., :3]), atol=1e-4)
    np.testing.assert_array_equal(to_grey[1], grey_alpha[..., :1])
    deep = tf.io.encode_png(np.full((8, 8, 3), 65535, "uint16"))
    rgb = ImageClassifier(tiny_model(3), LABELS[3]).pixels(tf.stack([deep]))
    np.testing.assert_array_equal(rgb, np.full((1, 8, 8, 3), 255.0))
