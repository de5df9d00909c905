"""Exporting a ViT run (`zoo.vit.export.export_main`): the SavedModel,
loaded in a fresh process with only TensorFlow, classifies PNG files of
test digits as the run's model.keras does; mistakes are one line and
write nothing."""

import base64
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo import cli
from zoo import datasets
from zoo.__main__ import run
from zoo.vit.data import class_names
from zoo.vit.evaluate import load_run
from zoo.vit.export import export_main

TINY_VIT = [
    *("train", "vit", "--dataset", "digits"),
    *("--epochs", "1", "--steps-per-epoch", "2", "--no-jit"),
]

SERVE = textwrap.dedent(
    """
    import base64, json, sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras_transformer", "zoo"):
                raise ImportError(name + " must not be needed")

    sys.meta_path.insert(0, Refuse())
    import tensorflow as tf

    path, images = sys.argv[1], json.loads(sys.argv[2])
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = serve(images=tf.constant([base64.b64decode(i) for i in images]))
    print(json.dumps({
        "label": [t.decode() for t in out["label"].numpy()],
        "probabilities": out["probabilities"].numpy().tolist(),
    }))
    """
)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vit-digits"
    assert run([*TINY_VIT, "--out", str(out)]) == 0
    return out


def serve(path, images):
    encoded = json.dumps([base64.b64encode(i).decode() for i in images])
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(path), encoded],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_saved_model_classifies_like_the_run(digits_run, tmp_path, capsys):
    import tensorflow as tf

    out = tmp_path / "exported"
    assert export_main([str(digits_run), "--out", str(out)]) == out
    assert "SavedModel in" in capsys.readouterr().out
    # Written again over itself, as `python -m zoo export` runs it: still
    # one whole SavedModel, no leftovers.
    assert run(["export", str(digits_run), "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]
    saved = json.loads((out / "assets.extra" / "run.json").read_text())
    assert saved["labels"] == list(class_names("digits"))
    assert saved["input_range"] == [0.0, 255.0]

    _, (x_test, _) = datasets.load_digits()
    pixels = x_test[:12]
    _, _, _, model = load_run(digits_run)
    logits = model.predict(pixels.astype("float32"), verbose=0)
    expected = tf.nn.softmax(logits).numpy()

    got = serve(out, [tf.io.encode_png(x).numpy() for x in pixels])
    np.testing.assert_allclose(got["probabilities"], expected, atol=1e-5)
    names = class_names("digits")
    assert got["label"] == [names[i] for i in expected.argmax(-1)]


def test_mistakes_are_one_line_and_write_nothing(digits_run, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("not a folder")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("someone's files")
    gpt = tmp_path / "gpt"
    gpt.mkdir()
    config = json.loads((digits_run / "config.json").read_text())
    (gpt / "config.json").write_text(json.dumps({**config, "task": "gpt"}))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text(json.dumps(config))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = str(tmp_path / "out")

    for argv, message in (
        ([str(gpt), "--out", out], "is a 'gpt' run, not a 'vit' run"),
        ([str(unfinished), "--out", out], "the run has not finished"),
        ([str(tmp_path / "none"), "--out", out], "does not exist"),
    ):
        with pytest.raises(cli.UsageError, match=message) as error:
            export_main(argv)
        assert "\n" not in str(error.value)
    for argv, message in (
        ([str(digits_run), "--out", str(tmp_path / "file.txt")], "a file"),
        ([str(digits_run), "--out", str(tmp_path / "busy")], "other files"),
        ([str(digits_run)], "--out"),
    ):
        with pytest.raises(SystemExit) as exit_:
            export_main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
