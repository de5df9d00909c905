"""`model.export()` (Keras' own exporter) for every family: the SavedModel
of a `GPT` or a `Transformer` takes int32 ids of any batch size and length
by default, or the `input_signature` given, and serves the model's logits
in a fresh process that has only TensorFlow; the LiteRT (TFLite) files of
`GPT`, `Transformer` and `VisionTransformer` run on the TFLite interpreter
alone (no TensorFlow ops) and compute the same."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_transformer.models import GPT
from keras_transformer.models import Transformer
from keras_transformer.models import VisionTransformer

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*tf.lite.Interpreter is deprecated:UserWarning"
)

# The fresh process: keras_transformer cannot be imported; it prints, per
# request, the logits and the serving signature's inputs.
SERVE = textwrap.dedent(
    """
    import json, sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras_transformer", "zoo"):
                raise ImportError(name + " must not be needed")

    sys.meta_path.insert(0, Refuse())
    import tensorflow as tf

    loaded, results = {}, {}
    for name, request in json.load(open(sys.argv[1])).items():
        path = request["path"]
        if path not in loaded:
            loaded[path] = tf.saved_model.load(path)
        model = loaded[path]
        inputs = {
            key: tf.constant(ids, request["dtype"])
            for key, ids in request["inputs"].items()
        }
        signature = model.signatures["serving_default"]
        if request["call"] == "signature":
            (logits,) = signature(**inputs).values()
        elif len(inputs) == 1:
            (ids,) = inputs.values()
            logits = model.serve(ids)
        else:
            logits = model.serve((inputs["source"], inputs["target"]))
        specs = signature.structured_input_signature[1]
        results[name] = {
            "logits": logits.numpy().tolist(),
            "signature": {
                key: [spec.dtype.name, spec.shape.as_list()]
                for key, spec in specs.items()
            },
        }
    assert "keras_transformer" not in sys.modules
    print(json.dumps(results))
    """
)

rng = np.random.default_rng(0)
GPT_IDS = {
    "short": rng.integers(0, 30, (2, 5)),
    "full window": rng.integers(0, 30, (3, 16)),
}
SOURCE = np.array([[2, 5, 6, 7, 3, 0, 0], [2, 4, 9, 11, 12, 13, 3]])
TARGET = np.array([[2, 7, 8, 0], [2, 9, 1, 5]])


def ids_spec(dtype):
    return keras.InputSpec(shape=(None, None), dtype=dtype)


def tiny_gpt():
    return GPT(
        vocab_size=30,
        max_length=16,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        dropout_rate=0.0,
    )


def tiny_transformer():
    return Transformer(
        src_vocab_size=20,
        tgt_vocab_size=30,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        dropout_rate=0.0,
        max_length=16,
    )


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(1)
    return tiny_gpt(), tiny_transformer()


# SavedModel -> how `model.export` is called for it.
EXPORTS = {
    "gpt": dict(),
    "gpt int64": dict(input_signature=[ids_spec("int64")]),
    "transformer": dict(),
    # One spec per input, in a list: read as the pair `inputs` is.
    "transformer int64": dict(
        input_signature=[ids_spec("int64"), ids_spec("int64")]
    ),
}
PAIR = dict(source=SOURCE, target=TARGET)
# request -> (SavedModel, "serve" or "signature", ids dtype, inputs).
REQUESTS = {
    "gpt short": ("gpt", "serve", "int32", dict(inputs=GPT_IDS["short"])),
    "gpt full window": (
        "gpt",
        "serve",
        "int32",
        dict(inputs=GPT_IDS["full window"]),
    ),
    "gpt signature": (
        "gpt",
        "signature",
        "int32",
        dict(inputs=GPT_IDS["short"]),
    ),
    "gpt int64": ("gpt int64", "serve", "int64", dict(inputs=GPT_IDS["short"])),
    "transformer": ("transformer", "serve", "int32", PAIR),
    "transformer signature": ("transformer", "signature", "int32", PAIR),
    "transformer int64": ("transformer int64", "serve", "int64", PAIR),
}


@pytest.fixture(scope="module")
def served(models, tmp_path_factory):
    """`{request: answer}`: what the SavedModels answered in a fresh
    process, or the error `export` raised for the request's SavedModel.
    The models are exported before any call (their weights exist from the
    start)."""
    gpt, transformer = models
    root = tmp_path_factory.mktemp("keras_export")
    failed = {}
    for name, kwargs in EXPORTS.items():
        model = gpt if name.startswith("gpt") else transformer
        try:
            model.export(root / name, verbose=False, **kwargs)
        except Exception as error:  # raised by the tests that need it
            failed[name] = error
    requests = {
        request: dict(
            path=str(root / saved),
            call=call,
            dtype=dtype,
            inputs={key: ids.tolist() for key, ids in inputs.items()},
        )
        for request, (saved, call, dtype, inputs) in REQUESTS.items()
        if saved not in failed
    }
    (root / "requests.json").write_text(json.dumps(requests))
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(root / "requests.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    for request, (saved, *_) in REQUESTS.items():
        answers.setdefault(request, failed.get(saved))
    return answers


def answer(served, request):
    if isinstance(served[request], Exception):
        raise served[request]
    return served[request]


@pytest.mark.parametrize(
    "name, ids",
    [
        ("gpt short", GPT_IDS["short"]),
        ("gpt full window", GPT_IDS["full window"]),
        ("gpt signature", GPT_IDS["short"]),
        ("gpt int64", GPT_IDS["short"]),
    ],
)
def test_gpt_saved_model_serves_the_models_logits(models, served, name, ids):
    gpt, _ = models
    expected = keras.ops.convert_to_numpy(gpt(ids))
    got = answer(served, name)["logits"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    "name", ["transformer", "transformer signature", "transformer int64"]
)
def test_transformer_saved_model_serves_the_models_logits(models, served, name):
    _, transformer = models
    expected = keras.ops.convert_to_numpy(transformer((SOURCE, TARGET)))
    got = answer(served, name)["logits"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


FREE = [None, None]


@pytest.mark.parametrize(
    "name, inputs",
    [
        ("gpt short", {"inputs": ["int32", FREE]}),
        ("transformer", {"source": ["int32", FREE], "target": ["int32", FREE]}),
    ],
)
def test_default_signatures_take_int32_ids_of_any_size(served, name, inputs):
    assert answer(served, name)["signature"] == inputs


def test_float_ids_are_still_refused_not_cast(models):
    gpt, transformer = models
    fractions = np.full((1, 3), 2.5, "float32")
    with pytest.raises(ValueError, match="integer"):
        gpt(fractions)
    with pytest.raises(ValueError, match="integer"):
        transformer((fractions, SOURCE[:1]))


# -- LiteRT (TFLite) ---------------------------------------------------------


def litert(path, inputs):
    """The output of the `.tflite` file at `path` for `inputs` (an array,
    or a dict by input name), on the TFLite interpreter, whose builtin ops
    leave TensorFlow's out: a model needing one fails to allocate."""
    interpreter = tf.lite.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=(
            tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        ),
    )
    runner = interpreter.get_signature_runner()
    if not isinstance(inputs, dict):
        (name,) = runner.get_input_details()
        inputs = {name: inputs}
    (out,) = runner(**inputs).values()
    return out


def test_gpt_litert_computes_the_models_logits(models, tmp_path):
    gpt, _ = models
    gpt.export(tmp_path / "gpt.tflite", format="litert", verbose=False)
    for ids in GPT_IDS.values():  # one file, sequences of every length
        ids = ids.astype("int32")
        got = litert(tmp_path / "gpt.tflite", ids)
        expected = keras.ops.convert_to_numpy(gpt(ids))
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_transformer_litert_computes_the_models_logits(models, tmp_path):
    _, transformer = models
    source, target = SOURCE.astype("int32"), TARGET.astype("int32")
    transformer.export(tmp_path / "t.tflite", format="litert", verbose=False)
    got = litert(tmp_path / "t.tflite", dict(source=source, target=target))
    expected = keras.ops.convert_to_numpy(transformer((source, target)))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_vision_transformer_litert_computes_the_models_logits(tmp_path):
    vit = VisionTransformer(
        image_size=8,
        patch_size=2,
        num_classes=3,
        num_layers=1,
        d_model=16,
        num_heads=2,
        d_ff=32,
        dropout_rate=0.0,
    )
    images = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3))
    images = images.astype("float32")
    expected = keras.ops.convert_to_numpy(vit(images))  # built by a call
    vit.export(tmp_path / "vit.tflite", format="litert", verbose=False)
    got = litert(tmp_path / "vit.tflite", images)
    np.testing.assert_allclose(got, expected, atol=1e-5)
