"""SIGKILL at random moments, checkpoint writes included: the run always
resumes from the last epoch it saved, ends with every epoch once, and its
train_seconds counts the training time of the killed processes too."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.zoo.conftest import ROOT


def train(out, epochs):
    """Starts `python -m zoo train vit` on digits, one step per epoch and
    no XLA: an epoch is a fraction of a second, much of it writing the
    checkpoint, so random kills land inside writes. Returns the process
    and an event set when its first epoch has ended (its first epoch
    also traces the training step: seconds)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zoo",
            "train",
            "vit",
            "--dataset",
            "digits",
            "--epochs",
            str(epochs),
            "--steps-per-epoch",
            "1",
            "--no-jit",
            "--out",
            str(out),
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    training = threading.Event()
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "val_loss" in line:
                training.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, training, lines, reader


def committed(out):
    """`(epoch, train_seconds)` of the saved state, `(0, 0.0)` if none."""
    path = out / "checkpoints" / "backup" / "state.json"
    if not path.is_file():
        return 0, 0.0
    state = json.loads(path.read_text())  # never half-written
    return state["epoch"], state["train_seconds"]


def kill_and_resume(out, kills, epochs, seed):
    rng = random.Random(seed)
    wall = 0.0  # seconds all processes lived
    saved = (0, 0.0)
    resumed = []
    for _ in range(kills):
        start = time.perf_counter()
        proc, training, lines, reader = train(out, epochs)
        assert training.wait(300), "".join(lines)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(10)
        wall += time.perf_counter() - start
        assert proc.returncode == -signal.SIGKILL, "".join(lines)
        printed = "".join(lines)
        if saved[0]:
            resumed.append(saved[0])
            assert f"Resuming after epoch {saved[0]} " in printed
        else:
            assert "Resuming" not in printed
        epoch, seconds = committed(out)
        assert epoch >= saved[0] and seconds >= saved[1]
        saved = epoch, seconds
        print(f"killed after epoch {epoch}, {seconds:.1f} s of training")

    start = time.perf_counter()
    proc, _, lines, reader = train(out, epochs)
    proc.wait(600)
    reader.join(10)
    wall += time.perf_counter() - start
    printed = "".join(lines)
    assert proc.returncode == 0, printed
    if saved[0]:
        assert f"Resuming after epoch {saved[0]} " in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == epochs
    assert metrics["resumed_after_epoch"] == saved[0]
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(epochs))
    # The killed processes' saved training time is in the total, and the
    # total is no more than the time the processes lived.
    assert saved[1] - 0.05 <= metrics["train_seconds"] <= wall
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
    backup = sorted(p.name for p in (out / "checkpoints" / "backup").iterdir())
    assert "state.json" in backup and len(backup) <= 3
    return resumed


def test_three_kills_then_the_run_finishes(tmp_path):
    resumed = kill_and_resume(tmp_path / "run", kills=3, epochs=20, seed=0)
    assert resumed, "no process resumed"


@pytest.mark.slow
def test_twenty_kills_then_the_run_finishes(tmp_path):
    resumed = kill_and_resume(tmp_path / "run", kills=20, epochs=80, seed=1)
    assert len(resumed) >= 15


def test_a_write_cut_short_leaves_the_previous_file(tmp_path):
    """A process killed in the middle of `files.write_text` leaves the
    file it was replacing whole (and a temporary file that the next
    `remove_temporaries` deletes)."""
    target = tmp_path / "state.json"
    target.write_text('{"epoch": 1}')
    script = (
        "import os, pathlib, signal\n"
        "from zoo import files\n"
        "def write(temp):\n"
        "    with open(temp, 'w') as f:\n"
        "        f.write('{\"epo')\n"
        "        f.flush()\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"with files.replacing(pathlib.Path({str(target)!r})) as temp:\n"
        "    write(temp)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"epoch": 1}

    from zoo import files

    files.remove_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
