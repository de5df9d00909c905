"""A run's training state on disk: what resumes a killed run and extends
a finished one.

    checkpoints/backup/state.json    the last saved epoch: its number, the
                                     training seconds so far, the history
                                     rows, the best epoch by the monitored
                                     metric, and the weights files of both
    checkpoints/backup/epoch-N.weights.h5
                                     model and optimizer after epoch N (the
                                     last and the best epoch are kept)
    checkpoints/best.weights.h5      a copy of the best epoch's weights
    history.csv                      the history rows of state.json

At the end of each epoch the weights file is written first, then
state.json replaces the previous one: that replacement is the commit.
Each file is written whole or not at all (`zoo.files`), so a kill at any
moment leaves the previous state or the new one, each with its weights.
"""

import csv
import io
import json
import math
import pathlib
import time

import keras

from zoo import cli
from zoo import files

STATE = "state.json"


def new_state():
    return {
        "epoch": 0,
        "weights": None,
        "train_seconds": 0.0,
        "history": [],
        "best": None,
    }


def read_state(run):
    """The saved training state of `run` (a `runs.RunDir`), or `None`."""
    path = run.backup / STATE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def restore(run, model, tidy=True):
    """Loads the saved state of `run` into the compiled `model` (weights,
    optimizer step and moments) and returns it; a new state when there is
    none. With `tidy` (the process that writes the run), leftovers of a
    write that a kill interrupted are removed and the files copied from
    the state brought up to date."""
    if tidy:
        files.remove_temporaries(run.backup)
        files.remove_temporaries(run.checkpoints)
        files.remove_temporaries(run.path)
    state = read_state(run)
    if state is None:
        return new_state()
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    weights = run.backup / state["weights"]
    try:
        model.load_weights(weights)
    except (OSError, ValueError) as e:
        raise cli.UsageError(
            f"{weights} cannot be loaded ({e}). Delete {run.backup} to "
            "train this run from the start."
        ) from None
    # A kill between the commit and these copies left them one epoch old.
    if tidy:
        write_history(run.history, state["history"])
        if state["best"]:
            files.copy(run.backup / state["best"]["weights"], run.best_weights)
    print(f"Resuming after epoch {state['epoch']} from {run.backup}")
    return state


def write_history(path, rows):
    """history.csv (`epoch` first, then the metrics, as Keras' CSVLogger
    writes it), whole or not at all."""
    names = sorted({k for row in rows for k in row} - {"epoch"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["epoch", *names])
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, out.getvalue())


class TrainingState(keras.callbacks.Callback):
    """Saves the state of `run` after every epoch (see the module's
    docstring), keeping the best epoch by `monitor` (lowest when `mode`
    is "min"), and counts the training seconds across resumes: start
    `fit` at `initial_epoch=state["epoch"]` of the restored `state`."""

    def __init__(self, run, state, monitor, mode="min"):
        super().__init__()
        self.run = run
        self.state = state
        self.monitor = monitor
        self.mode = mode
        self.train_seconds = state["train_seconds"]

    def _improves(self, value):
        best = self.state["best"]
        if value is None or not math.isfinite(value):
            return False
        if best is None:
            return True
        return (
            value < best["value"]
            if self.mode == "min"
            else (value > best["value"])
        )

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._seconds_before = self.state["train_seconds"]
        self.run.backup.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        with files.replacing(self.run.backup / name) as temp:
            self.model.save_weights(temp)
        improved = self._improves(logs.get(self.monitor))
        best = self.state["best"]
        if improved:
            best = {
                "epoch": epoch + 1,
                "value": logs[self.monitor],
                "weights": name,
            }
        elapsed = time.perf_counter() - self._start
        state = {
            "epoch": epoch + 1,
            "weights": name,
            "train_seconds": round(self._seconds_before + elapsed, 3),
            "history": [*self.state["history"], {"epoch": epoch, **logs}],
            "best": best,
        }
        files.write_text(self.run.backup / STATE, json.dumps(state) + "\n")
        self.state = state
        keep = {name, best["weights"] if best else name}
        for path in self.run.backup.glob("epoch-*.weights.h5"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        write_history(self.run.history, state["history"])
        if improved:
            files.copy(self.run.backup / name, self.run.best_weights)

    def on_train_end(self, logs=None):
        self.train_seconds = self._seconds_before + (
            time.perf_counter() - self._start
        )

    def best_weights(self):
        """The weights file of the best epoch (the last one when the
        monitored metric was never logged), or `None` before any."""
        chosen = self.state["best"] or self.state
        name = chosen["weights"]
        return pathlib.Path(self.run.backup / name) if name else None
