"""What every zoo recipe shares: the run directory, precision, strategy,
callbacks and the results files.

A run directory holds:

    config.json        the resolved configuration and the command line
    checkpoints/       backup/ (resume after a kill), best.weights.h5
    logs/              TensorBoard event files
    history.csv        one line per epoch
    model.keras        the best model, loadable without custom_objects
    metrics.json       test metrics, wall time, hardware
    *.png              plots
"""

import csv
import json
import os
import pathlib
import platform
import sys
import time


def add_common_arguments(parser, data_env="KERAS_TRANSFORMER_DATA"):
    """The options every `train` recipe takes: precision, strategy, seed,
    data folder, quick-check limits and XLA."""
    parser.add_argument(
        "--precision",
        default="float32",
        choices=["float32", "mixed_bfloat16", "mixed_float16"],
    )
    parser.add_argument(
        "--strategy", default="default", choices=["default", "mirrored"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", help=f"local data folder (else ${data_env})"
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        help="limit each epoch to this many batches (quick checks)",
    )
    parser.add_argument(
        "--cpu-replicas",
        type=int,
        default=1,
        help="split the CPU into this many devices for --strategy mirrored",
    )
    parser.add_argument(
        "--no-jit", action="store_true", help="compile without XLA"
    )
    return parser


def add_hparams_argument(parser):
    parser.add_argument(
        "--hparams",
        help="best.json of a `python -m zoo tune` search: its settings on "
        "top of the search's preset (options given here still win)",
    )


def hparams_preset(args, task):
    """`(preset, overrides)`: the preset and settings of `--hparams` (a
    search's best.json, checked to belong to `task` on `args.dataset`),
    or `(args.preset, {})` without it."""
    if not args.hparams:
        return args.preset, {}
    path = pathlib.Path(args.hparams)
    if path.is_dir():
        path = path / "best.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"No best.json at {path}: pass the file a `python -m zoo tune` "
            "search wrote."
        )
    best = json.loads(path.read_text())
    if (best.get("task"), best.get("dataset")) != (task, args.dataset):
        raise ValueError(
            f"{path} is from a {best.get('task')!r} search on "
            f"{best.get('dataset')!r}, not {task!r} on {args.dataset!r}."
        )
    for key in ("src", "tgt"):  # translation: the same language pair
        if key in best and best[key] != getattr(args, key, best[key]):
            raise ValueError(
                f"{path} is from a search on {best['src']}->{best['tgt']}, "
                f"not {args.src}->{args.tgt}."
            )
    print(f"Settings from {path}: {best['config']}")
    return args.preset or best["preset"], best["config"]


def overrides(tuned, **options):
    """`tuned` (settings from `--hparams`) updated with the `options` that
    are not `None` (given on the command line, so they win)."""
    return {**tuned, **{k: v for k, v in options.items() if v is not None}}


def resolve_preset(presets, defaults, dataset, preset=None, **overrides):
    """`(name, config)`: the preset for `dataset` (`defaults[dataset]`, or
    the named one from `presets`) with `overrides` (`None` values
    ignored) applied."""
    import dataclasses

    if preset is None and dataset not in defaults:
        raise ValueError(
            f"Unknown dataset. Expected one of {sorted(defaults)}. "
            f"Received: dataset={dataset!r}"
        )
    name = preset or defaults[dataset]
    if name not in presets:
        raise ValueError(
            f"Unknown preset. Expected one of {sorted(presets)}. "
            f"Received: preset={name!r}"
        )
    config = presets[name]
    if config.dataset != dataset:
        raise ValueError(
            f"Preset {name!r} is for dataset {config.dataset!r}. "
            f"Received: dataset={dataset!r}"
        )
    changes = {k: v for k, v in overrides.items() if v is not None}
    return name, dataclasses.replace(config, **changes)


def configure_cpu_replicas(count):
    """Splits the CPU into `count` logical devices, so that
    `--strategy mirrored` can be tried on a machine without GPUs. Must run
    before TensorFlow touches a device."""
    import tensorflow as tf

    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )


def make_strategy(name):
    """`default` or `mirrored` (all GPUs, else all logical CPUs)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(
        "`--strategy` must be 'default' or 'mirrored'. "
        f"Received: strategy={name!r}"
    )


def hardware():
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    cpu = platform.processor() or platform.machine()
    model_name = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model_name or cpu,
        "cpu_count": os.cpu_count(),
        "gpus": len(gpus),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


class RunDir:
    """Paths inside one run directory."""

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
        if not self.config.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a zoo run directory: no config.json. "
                "Pass the --out folder of a `python -m zoo train` run."
            )
        return json.loads(self.config.read_text())

    def start(self, config, resume_keys):
        """Creates the folder and writes config.json; when it exists from
        an earlier (killed) run, checks that the settings in `resume_keys`
        match, so a resumed run cannot silently mix two configurations."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        write_record(self.config, config, resume_keys, "a run")

    def load_finished(self, task):
        """The config record of a finished `task` run; a clear error when
        the folder holds another task or an unfinished run."""
        record = self.load_config()
        if record.get("task") != task:
            raise ValueError(
                f"{self.path} is a {record.get('task')!r} run, not a "
                f"{task!r} run."
            )
        if not self.model.is_file():
            raise FileNotFoundError(
                f"{self.model} does not exist: the run has not finished. Run "
                f"its command again to resume it: {record['command']}"
            )
        return record

    def finished_metrics(self):
        """The metrics of a run that already finished (with a message
        saying so), or `None`."""
        if not (self.model.is_file() and self.metrics.is_file()):
            return None
        metrics = json.loads(self.metrics.read_text())
        print(
            f"{self.path} holds a finished run. Use another --out, or delete "
            f"the folder to train again. Its metrics: {metrics}"
        )
        return metrics

    def resumed_epoch(self):
        """The epoch a killed run resumes after (0 for a new run)."""
        metadata = self.backup / "training_metadata.json"
        if not metadata.is_file():
            return 0
        epoch = json.loads(metadata.read_text())["epoch"]
        print(f"Resuming after epoch {epoch} from {self.backup}")
        return epoch

    def write_metrics(self, metrics):
        existing = {}
        if self.metrics.is_file():
            existing = json.loads(self.metrics.read_text())
        existing.update(metrics)
        self.metrics.write_text(json.dumps(existing, indent=2) + "\n")
        return existing


def write_record(path, record, resume_keys, kind):
    """Writes `record` as JSON to `path`. When `path` already holds one
    (a killed run or search being resumed), first checks that the settings
    in `resume_keys` match, so that a resumed `kind` cannot silently mix
    two configurations."""
    if path.is_file():
        old = json.loads(path.read_text())
        changed = {
            k: (old.get(k), record.get(k))
            for k in resume_keys
            if old.get(k) != record.get(k)
        }
        if changed:
            details = ", ".join(
                f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()
            )
            raise ValueError(
                f"{path.parent} holds {kind} with other settings "
                f"({details}). Use another --out, or delete the folder to "
                "start over."
            )
    path.write_text(json.dumps(record, indent=2) + "\n")


def training_callbacks(run, monitor, patience, mode="min"):
    """Resume after a kill, keep the best weights by `monitor` (lowest
    when `mode="min"`), stop when it stalls, log to CSV and TensorBoard.
    The progress bar is fit's own."""
    import keras

    callbacks = [
        keras.callbacks.BackupAndRestore(
            str(run.backup), double_checkpoint=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(run.best_weights),
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.CSVLogger(str(run.history), append=True),
        keras.callbacks.TensorBoard(str(run.logs)),
    ]
    if patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=patience
            )
        )
    return callbacks


def read_history(path):
    """history.csv as dict column -> list of floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]} if rows else {}


def record_results(run, model, record, timer, start_epoch, results, title):
    """After training: reads history.csv back, writes metrics.json with
    `results(history)` and what every run records (epochs, resume point,
    time, size, hardware, command), and plots the training curves.
    Returns `(metrics, history)`."""
    from keras_transformer.visualization import plot_history

    history = read_history(run.history)
    metrics = run.write_metrics(
        {
            **results(history),
            "epochs_run": len(history.get("loss", [])),
            "resumed_after_epoch": start_epoch,
            "train_seconds": round(timer.seconds, 1),
            "parameters": int(model.count_params()),
            "hardware": hardware(),
            "command": record["command"],
        }
    )
    plot_history(history, run.path / "training_curves.png", title=title)
    return metrics, history


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def command_line():
    return "python -m zoo " + " ".join(sys.argv[1:])
