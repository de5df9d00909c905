"""The run directory: its files, the checks that keep a command from
mixing up runs, the training callbacks and the records of searches.

A run directory holds:

    config.json        the resolved configuration and the command line
    checkpoints/       backup/ (the training state: resume after a kill,
                       `--extend` after the end), best.weights.h5
    logs/              TensorBoard event files
    history.csv        one line per epoch
    model.keras        the best model, loadable without custom_objects
    metrics.json       test metrics, wall time, hardware (written last:
                       with model.keras, it marks a finished run)
    *.png              plots

Every file a kill could cut short is written whole or not at all
(`zoo.files`).
"""

import contextlib
import dataclasses
import json
import math
import pathlib
import shlex
import sys
import time

from zoo import files
from zoo import tasks
from zoo.cli import UsageError

# Settings that a search's best.json may set and may leave at 0.
_MAY_BE_ZERO = {"patience", "max_pairs", "warmup_iters"}
# Fractions in [0, 1).
_FRACTIONS = {
    "dropout_rate", "label_smoothing", "translate", "beta_2", "erase",
}  # fmt: skip


def check_settings(cfg, tuned, source):
    """Refuses a setting from `--hparams` (`tuned`, read from `source`)
    that cannot train: counts below 1, rates outside [0, 1), negative or
    non-finite numbers, heads that do not divide d_model."""
    for name, value in tuned.items():
        field = getattr(cfg, name)
        if isinstance(field, bool) or isinstance(field, str):
            ok, wanted = isinstance(value, type(field)), type(field).__name__
        elif isinstance(field, int):
            low = 0 if name in _MAY_BE_ZERO else 1
            ok = isinstance(value, int) and not isinstance(value, bool)
            ok, wanted = ok and value >= low, f"an integer >= {low}"
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and value >= 0
            wanted = "a number >= 0"
            if name in _FRACTIONS:
                ok, wanted = ok and value < 1, "a number in [0, 1)"
        if not ok:
            raise UsageError(
                f"{source} sets {name}={value!r}; it must be {wanted}."
            )
    if hasattr(cfg, "num_heads") and cfg.d_model % cfg.num_heads:
        raise UsageError(
            f"{source} gives num_heads={cfg.num_heads}, which does not "
            f"divide d_model={cfg.d_model}."
        )


class RunDir:
    """Paths inside one run directory, and the checks that keep a command
    from mixing up runs."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.config = self.path / "config.json"
        self.checkpoints = self.path / "checkpoints"
        self.backup = self.checkpoints / "backup"
        self.best_weights = self.checkpoints / "best.weights.h5"
        self.logs = self.path / "logs"
        self.history = self.path / "history.csv"
        self.model = self.path / "model.keras"
        self.metrics = self.path / "metrics.json"

    def load_config(self):
        """The run's config.json, or a `UsageError` saying why the folder
        is not a run directory."""
        hint = "Pass the --out folder of a `python -m zoo train` run."
        if not self.path.exists():
            raise UsageError(f"{self.path} does not exist. {hint}")
        if not self.path.is_dir():
            raise UsageError(f"{self.path} is a file, not a folder. {hint}")
        if not self.config.is_file():
            raise UsageError(
                f"{self.path} is not a zoo run directory: no config.json. "
                f"{hint}"
            )
        try:
            record = json.loads(self.config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise UsageError(
                f"{self.config} is not valid JSON ({e})."
            ) from None
        if not isinstance(record, dict) or record.get("task") not in (
            tasks.MODEL_CLASSES
        ):
            raise UsageError(
                f"{self.config} is not the config of a zoo run (its task "
                f"should be one of {sorted(tasks.MODEL_CLASSES)})."
            )
        return record

    def is_finished(self):
        return self.model.is_file() and self.metrics.is_file()

    def check(self, record, resume_keys, extend=False, length="epochs",
              added=None):  # fmt: skip
        """Before anything is written: may the run `record` describes
        train in this folder? `"new"`, `"resume"` (a killed run),
        `"finished"` or `"extend"` (`--extend`: only the config's `length`
        grows); a `UsageError` when the folder is a file or another kind
        of folder, or holds a run with other settings. `added`: config
        fields newer than some runs, with the value those runs had."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(
                f"--out {self.path} is a file. Give a folder for the run."
            )
        if not self.config.is_file():
            if (self.path / "tune.json").is_file():
                raise UsageError(
                    f"--out {self.path} holds a `python -m zoo tune` "
                    "search, not a training run. Give another --out."
                )
            if self.path.is_dir() and any(self.path.iterdir()):
                raise UsageError(
                    f"--out {self.path} is not empty and holds no run (no "
                    "config.json). Give a new or empty folder."
                )
            if extend:
                raise UsageError(
                    f"--extend: {self.path} holds no run to extend. Drop "
                    "--extend to start a new run there."
                )
            return "new"
        old = self.load_config()
        if old["task"] != record["task"]:
            raise UsageError(
                f"--out {self.path} holds a {old['task']!r} run, not a "
                f"{record['task']!r} run. Give another --out."
            )
        changes = differences(old, record, resume_keys, added)
        others = [c for c in changes if c[0] != length]
        before = old.get("config", {}).get(length)
        after = record["config"][length]
        if extend:
            if others:
                raise UsageError(
                    f"--extend may only raise --{length}; {self.path} holds "
                    f"a run with other settings ({describe(others)})."
                )
            if after <= before:
                raise UsageError(
                    f"--extend: give --{length} above the run's {before} "
                    f"(received {after})."
                )
            if not (self.backup / "state.json").is_file():
                raise UsageError(
                    f"--extend: {self.path} kept no training state to "
                    f"continue from (no {self.backup / 'state.json'}; runs "
                    "trained before the zoo kept it end without one). "
                    "Train a new run."
                )
            return "extend"
        if changes:
            longer = not others and after > before
            raise UsageError(
                f"{self.path} holds a run with other settings "
                f"({describe(changes)}). "
                + (
                    f"Add --extend to train it on to {after} {length}, "
                    "or use another --out."
                    if longer
                    else "Use another --out, or delete the folder to "
                    "start over."
                )
            )
        return "finished" if self.is_finished() else "resume"

    @contextlib.contextmanager
    def starting(self, record, extend=False):
        """Writes config.json (and, when extending, removes metrics.json:
        the run is unfinished again) for the block that prepares training.
        If the block fails, the folder is left as it was found."""
        with files.undo_on_failure(self.path, ("config.json", "metrics.json")):
            self.path.mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(exist_ok=True)
            files.write_text(self.config, json.dumps(record, indent=2) + "\n")
            if extend:
                self.metrics.unlink(missing_ok=True)
            yield

    def load_finished(self, task):
        """The config record of a finished run of `task` (a name, or a
        tuple of the names accepted); a clear error when the folder holds
        another task or an unfinished run."""
        accepted = (task,) if isinstance(task, str) else tuple(task)
        record = self.load_config()
        if record["task"] not in accepted:
            wanted = " or ".join(repr(name) for name in accepted)
            raise UsageError(
                f"{self.path} is a {record['task']!r} run, not a {wanted} run."
            )
        if not self.model.is_file():
            raise UsageError(
                f"{self.model} does not exist: the run has not finished. Run "
                f"its command again to resume it: {record.get('command')}"
            )
        return record

    def open(self, task):
        """`(record, config, model)` of a finished run of `task` (a name
        or a tuple of names, as `load_finished`); `config` is the preset
        dataclass of the task the run holds."""
        record = self.load_finished(task)
        model = self.load_model(record)
        config_class = tasks.config_class(record["task"])
        return record, config_class(**record["config"]), model

    def load_model(self, record):
        """The run's model.keras, after checking that it is a whole Keras
        archive holding the model class of the run's task."""
        import zipfile

        import keras

        import keras_transformer  # noqa: F401 (registers the saved classes)

        tasks.register_model_class(record["task"])
        path = self.model
        again = (
            f"Delete it and run the training command again to save it from "
            f"the run's last checkpoint: {record.get('command')}"
        )
        if path.stat().st_size == 0:
            raise UsageError(f"{path} is empty. {again}")
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
                saved = json.loads(archive.read("config.json"))
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError):
            damaged = "the archive"
        if damaged is not None:
            raise UsageError(
                f"{path} is not a readable Keras model file ({damaged} is "
                f"truncated or damaged). {again}"
            )
        held = saved.get("class_name") if isinstance(saved, dict) else None
        expected = tasks.MODEL_CLASSES[record["task"]]
        if held != expected:
            raise UsageError(
                f"{path} holds a {held} model, not the {expected} of a "
                f"{record['task']!r} run: the file was replaced. {again}"
            )
        return keras.saving.load_model(path)

    def finished_metrics(self):
        """The metrics of a run that already finished (with a message
        saying so), or `None`."""
        if not self.is_finished():
            return None
        metrics = json.loads(self.metrics.read_text())
        shown = {k: v for k, v in metrics.items() if "_" in k and (
            isinstance(v, (int, float)))}  # fmt: skip
        print(
            f"{self.path} holds a finished run. Use another --out, delete "
            "the folder to train again, or add --extend with more epochs "
            f"to train it further. Its metrics: {shown}"
        )
        return metrics

    def write_metrics(self, metrics):
        existing = {}
        if self.metrics.is_file():
            existing = json.loads(self.metrics.read_text())
        existing.update(metrics)
        files.write_text(self.metrics, json.dumps(existing, indent=2) + "\n")
        return existing

    def save_model(self, model):
        """model.keras, whole or not at all."""
        files.save_model(model, self.model)


def added_fields(cfg):
    """`{name: default}` of the fields of the config dataclass `cfg` that
    have a default: fields added after runs were recorded without them,
    the default being what those runs trained with."""
    return {
        field.name: field.default
        for field in dataclasses.fields(cfg)
        if field.default is not dataclasses.MISSING
    }


def differences(old, new, keys, added=None):
    """`[(name, old value, new value)]` for the settings in `keys` that
    differ between the records `old` and `new`; the fields of the config
    one by one, by their own names. A config field of `added` (name:
    value) that `old` lacks counts as that value: a setting newer than
    the record, which its run trained without."""
    changes = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if key == "config" and added:
                a = {**added, **a}
            for field in [*a, *(f for f in b if f not in a)]:
                if a.get(field) != b.get(field):
                    name = field if key == "config" else f"{key}.{field}"
                    changes.append((name, a.get(field), b.get(field)))
        elif a != b:
            changes.append((key, a, b))
    return changes


def describe(changes):
    return ", ".join(f"{name}: {a!r} -> {b!r}" for name, a, b in changes)


def write_record(path, record, resume_keys, kind):
    """Writes `record` as JSON to `path`. When `path` already holds one
    (a killed run or search being resumed), first checks that the settings
    in `resume_keys` match, so that a resumed `kind` cannot silently mix
    two configurations."""
    check_record(path, record, resume_keys, kind)
    files.write_text(path, json.dumps(record, indent=2) + "\n")


def check_record(path, record, resume_keys, kind):
    """A `UsageError` listing the settings in `resume_keys` that differ
    between `record` and the one `path` holds, if any."""
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except ValueError as e:
        raise UsageError(f"{path} is not valid JSON ({e}).") from None
    changes = differences(old, record, resume_keys)
    if changes:
        raise UsageError(
            f"{path.parent} holds {kind} with other settings "
            f"({describe(changes)}). Use another --out, or delete the "
            "folder to start over."
        )


def training_callbacks(run, state, monitor, mode="min"):
    """Save the training state after each epoch (resume, `--extend`,
    the best weights by `monitor`, lowest when `mode="min"`, and
    history.csv) and log to TensorBoard. The first callback is the
    `checkpoints.TrainingState`. The progress bar is fit's own."""
    import keras

    from zoo import checkpoints

    return [
        checkpoints.TrainingState(run, state, monitor, mode),
        keras.callbacks.TensorBoard(str(run.logs)),
    ]


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def command_line():
    """The command of this process, quoted so that it can be pasted back
    (an argument of spaces, such as `--replace-unknown ' '`, survives)."""
    return "python -m zoo " + shlex.join(sys.argv[1:])
