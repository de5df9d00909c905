"""The ViT recipe end to end on scikit-learn's digits, in a few steps."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.zoo.conftest import ROOT
from zoo.__main__ import main
from zoo.__main__ import run

# Two epochs of three steps: every file of a run, in seconds.
TINY_TRAIN = [
    "train",
    "vit",
    "--dataset",
    "digits",
    "--epochs",
    "2",
    "--steps-per-epoch",
    "3",
]
RUN_FILES = [
    "config.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "training_curves.png",
    "attention_maps.png",
    "checkpoints/best.weights.h5",
]


def zoo(*args, env=None, **kwargs):
    """Runs `python -m zoo ARGS` in a fresh process."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", *map(str, args)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    status = main([*TINY_TRAIN, "--out", str(out)])
    assert status == 0
    return out


def test_help_everywhere(capsys):
    for args in (
        [],
        ["train"],
        ["train", "vit", "--help"],
        ["evaluate", "--help"],
        ["predict", "--help"],
    ):
        try:
            main(args)
        except SystemExit as exit:
            assert exit.code == 0
        assert "usage" in capsys.readouterr().out.lower()


def test_train_writes_every_file(digits_run):
    for name in RUN_FILES:
        assert (digits_run / name).is_file(), name
    assert any((digits_run / "logs").rglob("*tfevents*"))
    config = json.loads((digits_run / "config.json").read_text())
    assert config["preset"] == "digits-tiny" and config["config"]["epochs"] == 2
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert [row["epoch"] for row in history(digits_run)] == ["0", "1"]


def test_auto_precision_is_resolved_and_recorded(digits_run):
    # d_model 64 is below where bfloat16 pays (zoo.precision), on any CPU.
    config = json.loads((digits_run / "config.json").read_text())
    assert config["precision"] == "float32"
    assert config["jit_compile"] is True


def test_a_run_recorded_before_newer_settings_is_the_same_run(
    digits_run, tmp_path, capsys
):
    old = tmp_path / "old"
    shutil.copytree(digits_run, old)
    record = json.loads((old / "config.json").read_text())
    del record["config"]["erase"], record["jit_compile"]
    (old / "config.json").write_text(json.dumps(record))
    main([*TINY_TRAIN, "--out", str(old)])
    assert "holds a finished run" in capsys.readouterr().out


def test_finished_run_is_not_trained_again(digits_run, capsys):
    before = (digits_run / "history.csv").read_text()
    main([*TINY_TRAIN, "--out", str(digits_run)])
    assert "holds a finished run" in capsys.readouterr().out
    assert (digits_run / "history.csv").read_text() == before


def test_changed_settings_are_refused(digits_run, capsys):
    status = run(
        [
            "train",
            "vit",
            "--dataset",
            "digits",
            "--epochs",
            "3",
            "--out",
            str(digits_run),
        ]
    )
    assert status == 2
    assert "epochs" in capsys.readouterr().err


def test_evaluate_reproduces_the_training_figure(digits_run, capsys):
    main(["evaluate", str(digits_run)])
    printed = capsys.readouterr().out
    metrics = json.loads((digits_run / "metrics.json").read_text())
    np.testing.assert_allclose(
        metrics["evaluate_test_accuracy"], metrics["test_accuracy"], atol=1e-6
    )
    assert f"{metrics['test_accuracy']:.4f}" in printed


def test_predict_agrees_with_the_model(digits_run, tmp_path, capsys):
    import keras
    from PIL import Image

    from zoo import datasets

    _, (x_test, _) = datasets.load_digits()
    path = tmp_path / "digit.png"
    Image.fromarray(x_test[0, :, :, 0]).save(path)
    model = keras.saving.load_model(digits_run / "model.keras")
    expected = int(np.argmax(model.predict(x_test[:1].astype("float32"))))
    main(["predict", str(digits_run), str(path)])
    assert f"{path}: {expected} (" in capsys.readouterr().out


def test_predict_refuses_bad_images(digits_run, tmp_path, capsys):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((28, 28), "uint8")).save(big)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert run(["predict", str(digits_run), str(big)]) == 2
    assert "28x28 pixels" in capsys.readouterr().err
    assert run(["predict", str(digits_run), str(big), "--resize"]) == 0
    assert run(["predict", str(digits_run), str(text)]) == 2
    assert "not an image" in capsys.readouterr().err
    assert run(["evaluate", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_killed_run_resumes_at_its_last_epoch(tmp_path):
    out = tmp_path / "resume"
    args = [
        "train",
        "vit",
        "--dataset",
        "digits",
        "--epochs",
        "40",
        "--out",
        out,
    ]
    first = zoo(*args)
    metadata = out / "checkpoints" / "backup" / "state.json"
    deadline = time.time() + 300
    while not metadata.is_file() and time.time() < deadline:
        assert first.poll() is None, first.stdout.read()
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    saved_epoch = json.loads(metadata.read_text())["epoch"]
    assert 1 <= saved_epoch < 40

    second = zoo(*args)
    output, _ = second.communicate(timeout=900)
    assert second.returncode == 0, output
    assert f"Resuming after epoch {saved_epoch}" in output
    assert f"Epoch {saved_epoch + 1}/40" in output
    assert "Epoch 1/40" not in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_after_epoch"] == saved_epoch
    epochs = [int(row["epoch"]) for row in history(out)]
    assert epochs[-1] == 39 and epochs == sorted(set(epochs))

    # A fresh process loads the saved model (no custom_objects needed).
    output, _ = zoo("evaluate", out).communicate(timeout=300)
    assert f"test accuracy: {metrics['test_accuracy']:.4f}" in output


def test_mirrored_strategy_matches_default(tmp_path):
    """`--strategy mirrored` on two logical CPUs starts from the same model
    as the default strategy and evaluates it alike: the first step's rate
    is 0 (the warm-up starts there), so after it both runs hold their
    initial weights and report the same validation loss.

    The training losses are not compared: under a strategy Keras pulls one
    batch before training, which moves the reshuffling pipeline on, so the
    mirrored run trains on the next shuffle. That the update of a step is
    the same on one and on two devices, clipping included, is
    tests/test_optimizers.py."""
    results = {}
    for strategy in ("default", "mirrored"):
        out = tmp_path / strategy
        proc = zoo(
            "train",
            "vit",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "1",
            "--dropout-rate",
            "0",
            "--strategy",
            strategy,
            "--cpu-replicas",
            "2",
            "--out",
            out,
        )
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output
        (row,) = history(out)
        results[strategy] = float(row["val_loss"])
    np.testing.assert_allclose(
        results["mirrored"], results["default"], rtol=1e-5
    )


def test_mirrored_strategy_refuses_uneven_batches(tmp_path):
    """A batch that does not split evenly across the replicas is a usage
    error before anything is written, not a shape error inside Keras."""
    proc = zoo(
        *TINY_TRAIN,
        "--batch-size",
        "33",
        "--strategy",
        "mirrored",
        "--cpu-replicas",
        "2",
        "--out",
        tmp_path / "run",
    )
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, output
    assert "--batch-size 33 does not split across the 2 replicas" in output
    assert not (tmp_path / "run" / "history.csv").exists()
