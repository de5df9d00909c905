"""Search a recipe's hyper-parameters with keras-tuner.

    python -m zoo tune vit --dataset digits --tuner random --max-trials 12 \\
        --epochs-per-trial 40 --out runs/tune-vit-digits
    python -m zoo train vit --dataset digits \\
        --hparams runs/tune-vit-digits/best.json

Reads top to bottom: arguments, the task's data and HyperModel (its
search space, with the preset's values as the baseline), the preset
trained once as the baseline, the search (one line per trial; results
kept on disk, so a killed search resumes where it stopped), then the
summary files. The output folder holds:

    tune.json          the settings and command (checked on resume)
    search/            keras-tuner's trials (resume state)
    baseline.json      the preset's own score with the same budget
    summary.csv, summary.md, trials.png
    best.json          the best trial, for `train --hparams`
"""

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import pathlib
import sys
import time

from zoo import cli
from zoo import files
from zoo import runs

TUNERS = ("random", "bayesian", "hyperband")
RESUME_KEYS = (
    "executions_per_trial",
    "objective",
    "task",
    "dataset",
    "preset",
    "tuner",
    "epochs_per_trial",
    "steps_per_epoch",
    "seed",
    "space",
)

# Search spaces per (task, dataset) where the library's default (sized
# for mid-sized data) does not fit; the rest of the default space, and
# the preset's warm-up and weight decay, apply as they are.
ZOO_SPACES = {
    ("vit", "digits"): {
        "num_layers": [1, 2, 3, 4],
        "d_model": [32, 64, 128],
        "num_heads": [2, 4],
        "d_ff_multiple": [2, 4],
        "dropout_rate": [0.0, 0.1, 0.2],
        "learning_rate": {"low": 3e-4, "high": 1e-2, "log": True},
        "label_smoothing": [0.0, 0.1],
    },
    ("gpt", "shakespeare"): {
        "num_layers": [2, 4, 6],
        "d_model": [64, 128, 192],
        "num_heads": [2, 4],
        "d_ff_multiple": 4,
        "dropout_rate": [0.0, 0.1],
        "learning_rate": {"low": 5e-4, "high": 3e-3, "log": True},
    },
}


def add_arguments(parser):
    from zoo import datasets

    parser.add_argument("--dataset", required=True)
    parser.add_argument("--preset", help="the baseline and fixed settings")
    parser.add_argument("--tuner", default="random", choices=TUNERS)
    parser.add_argument(
        "--max-trials",
        type=cli.POSITIVE,
        default=10,
        help="trials in all (also caps hyperband's own schedule)",
    )
    parser.add_argument(
        "--epochs-per-trial",
        type=cli.POSITIVE,
        default=5,
        help="epochs per trial (hyperband: the most any trial gets)",
    )
    parser.add_argument(
        "--executions-per-trial",
        type=cli.POSITIVE,
        default=1,
        help="train each trial this many times, with seeds seed, seed+1, "
        "...: another initialization, batch order and (vit) validation "
        "split each time; the objective is their mean",
    )
    parser.add_argument(
        "--objective",
        help="metric to search by (default: the family's own, e.g. "
        "val_cross_entropy for vit); names with 'accuracy' are maximized",
    )
    parser.add_argument(
        "--space",
        type=cli.json_object(),
        help="JSON file of search-space overrides: name -> value, list of "
        'choices, or {"low": L, "high": H, "step": S, "log": true}',
    )
    parser.add_argument(
        "--out", type=cli.OUT_DIR, help="default: runs/tune-TASK-DATASET"
    )
    languages = datasets.MULTI30K_LANGUAGES
    parser.add_argument(
        "--src", default="de", choices=languages, help="translation source"
    )
    parser.add_argument(
        "--tgt", default="en", choices=languages, help="translation target"
    )
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)
    parser.add_argument(
        "--data-dir",
        type=cli.DATA_DIR,
        help="local data folder (else $KERAS_TRANSFORMER_DATA)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=cli.POSITIVE,
        help="limit each epoch to this many batches (quick checks)",
    )
    parser.add_argument(
        "--no-jit", action="store_true", help="compile without XLA"
    )
    # Internal: run one trial described by a JSON request file (each
    # trial trains in a fresh process; see `_TrialProcess`).
    parser.add_argument("--trial-worker", help=argparse.SUPPRESS)
    return parser


# ---------------------------------------------------------------- spaces


def space_from_json(space, source="--space"):
    """JSON-able search space -> HyperModel `search_space` (dicts with
    `low`/`high` become `Range`s); a `UsageError` naming `source` for a
    range the library refuses."""
    from keras_transformer.tuning import Range

    out = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            unknown = set(spec) - {"low", "high", "step", "log"}
            if unknown or not {"low", "high"} <= set(spec):
                raise cli.UsageError(
                    f"{source}: a range for {name!r} takes low, high and "
                    f"optionally step and log. Received: {spec}"
                )
            try:
                out[name] = Range(**spec)
            except (TypeError, ValueError) as e:
                raise cli.UsageError(f"{source}: {name}: {e}") from None
        else:
            out[name] = spec
    return out


# ---------------------------------------------------------------- tasks


@dataclasses.dataclass
class Task:
    """What a search needs from a recipe."""

    hypermodel_class: type
    model_args: dict
    train: object  # a tf.data.Dataset (repeating where it must)
    val: object
    steps_per_epoch: int
    preset_values: dict  # the preset as search-space values
    to_config: object  # values -> config overrides for `train`
    takes_total_steps: bool = True


def vit_task(args, cfg, out):
    from keras_transformer.tuning import VisionTransformerHyperModel
    from zoo import datasets
    from zoo.vit import train as vit_train

    data = datasets.load(cfg.dataset, args.data_dir)
    train, val, _, steps = vit_train.make_pipelines(
        cfg, data, args.seed, cfg.batch_size
    )
    steps = min(steps, args.steps_per_epoch or steps)
    total = steps * args.epochs_per_trial

    def to_config(values):
        return {
            **VisionTransformerHyperModel.architecture(values),
            "learning_rate": float(values["learning_rate"]),
            "label_smoothing": float(values["label_smoothing"]),
            "weight_decay": float(values["weight_decay"]),
            "warmup_epochs": round(
                values["warmup_steps"] / total * cfg.epochs, 3
            ),
        }

    return Task(
        VisionTransformerHyperModel,
        {
            "image_size": cfg.image_size,
            "patch_size": cfg.patch_size,
            "num_classes": cfg.num_classes,
            "channels": cfg.channels,
        },
        train.repeat(),
        val,
        steps,
        {
            **_architecture_values(cfg),
            "learning_rate": cfg.learning_rate,
            "label_smoothing": cfg.label_smoothing,
            "weight_decay": cfg.weight_decay,
            "warmup_steps": max(
                1, round(total * cfg.warmup_epochs / cfg.epochs)
            ),
        },
        to_config,
    )


def gpt_task(args, cfg, out):
    from keras_transformer.tuning import GPTHyperModel
    from zoo import datasets
    from zoo.gpt import train as gpt_train

    text = datasets.load_shakespeare(args.data_dir)
    tokenizer, ids = gpt_train.encode_text(runs.RunDir(out), text)
    train = gpt_train.random_windows(
        ids["train"], cfg.context, cfg.batch_size, args.seed
    )
    val = gpt_train.all_windows(ids["val"], cfg.context)
    steps = min(cfg.eval_interval, args.steps_per_epoch or cfg.eval_interval)
    total = steps * args.epochs_per_trial

    def to_config(values):
        lr = float(values["learning_rate"])
        return {
            **GPTHyperModel.architecture(values),
            "learning_rate": lr,
            "min_learning_rate": lr / 10,
            "weight_decay": float(values["weight_decay"]),
            "warmup_iters": round(
                values["warmup_steps"] / total * cfg.iterations
            ),
        }

    return Task(
        GPTHyperModel,
        {
            "vocab_size": tokenizer.vocab_size,
            "max_length": cfg.context,
            "tie_embeddings": cfg.tie_embeddings,
        },
        train,
        val,
        steps,
        {
            **_architecture_values(cfg),
            "learning_rate": cfg.learning_rate,
            "weight_decay": cfg.weight_decay,
            "warmup_steps": max(
                1, round(total * cfg.warmup_iters / cfg.iterations)
            ),
        },
        to_config,
    )


def translation_task(args, cfg, out):
    from keras_transformer.tuning import TransformerHyperModel
    from zoo.translation import data as tr_data
    from zoo.translation import train as tr_train

    pairs = tr_data.load_pairs(
        cfg, args.src, args.tgt, args.data_dir, args.seed
    )
    tokenizers = tr_train.tokenizers_for(runs.RunDir(out), cfg, pairs["train"])
    encoded = {
        split: tr_data.encode_pairs(tokenizers, *pairs[split], cfg.max_length)
        for split in ("train", "val")
    }
    train = tr_data.batches(
        *encoded["train"][:2], cfg.batch_tokens, shuffle_seed=args.seed
    )
    val = tr_data.batches(*encoded["val"][:2], cfg.batch_tokens)
    steps = min(len(train), args.steps_per_epoch or len(train))

    def to_config(values):
        return {
            **TransformerHyperModel.architecture(values),
            "warmup_steps": int(values["warmup_steps"]),
            "lr_scale": float(values["lr_scale"]),
            "label_smoothing": float(values["label_smoothing"]),
        }

    return Task(
        TransformerHyperModel,
        {
            "src_vocab_size": tokenizers[0].vocab_size,
            "tgt_vocab_size": tokenizers[1].vocab_size,
            "max_length": cfg.max_length,
            "norm_first": cfg.norm_first,
        },
        train.dataset().repeat(),
        val.dataset(),
        steps,
        {
            **_architecture_values(cfg),
            "warmup_steps": cfg.warmup_steps,
            "lr_scale": cfg.lr_scale,
            "label_smoothing": cfg.label_smoothing,
        },
        to_config,
        takes_total_steps=False,
    )


def _architecture_values(cfg):
    multiple = cfg.d_ff / cfg.d_model
    return {
        "num_layers": cfg.num_layers,
        "d_model": cfg.d_model,
        "num_heads": cfg.num_heads,
        "d_ff_multiple": int(multiple) if multiple.is_integer() else multiple,
        "dropout_rate": cfg.dropout_rate,
    }


TASKS = {"vit": vit_task, "gpt": gpt_task, "translation": translation_task}


def task_config(task, dataset, preset):
    """`(preset name, config)` from the task's own config module."""
    if task == "vit":
        from zoo.vit import config
    elif task == "gpt":
        from zoo.gpt import config
    else:
        from zoo.translation import config
    return config.resolve(dataset, preset)


# ---------------------------------------------------------------- search


class _Progress:
    """Runs each trial in its own process (`run_trial_process`), prints one
    line per trial under a bar over the trials, and records each trial's
    wall time, the search process's resident memory after it and the
    trial process's peak."""

    def _build_and_fit_model(self, trial, *args, **kwargs):
        import keras

        values = dict(trial.hyperparameters.values)
        previous = values.get("tuner/trial_id")  # hyperband's next round
        execution = self._execution
        self._execution += 1
        name = f"execution{execution}." if execution else ""
        request = {
            "execution": execution,
            "values": {
                k: v for k, v in values.items() if not k.startswith("tuner/")
            },
            "epochs": kwargs["epochs"],
            "initial_epoch": kwargs.get("initial_epoch", 0),
            "load_weights": previous and self._get_checkpoint_fname(previous),
            # The first execution's weights (hyperband continues from them).
            "save_weights": None
            if execution
            else self._get_checkpoint_fname(trial.trial_id),
            "result": str(self._trial_file(trial, name + "result.json")),
        }
        try:
            result = run_trial_process(
                self._argv,
                request,
                self._trial_file(trial, name + "request.json"),
            )
        except TrialFailed as e:
            import keras_tuner

            raise keras_tuner.errors.FailedTrialError(str(e)) from None
        self._peak_rss = max(self._peak_rss or 0, result["peak_rss_mb"])
        history = keras.callbacks.History()
        history.history = result["history"]
        return history

    def _trial_file(self, trial, name):
        folder = pathlib.Path(self.get_trial_dir(trial.trial_id))
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def on_search_begin(self):
        super().on_search_begin()
        from tqdm import tqdm

        done = sum(t.status == "COMPLETED" for t in self.oracle.trials.values())
        self._bar = tqdm(
            total=self.oracle.max_trials,
            initial=min(done, self.oracle.max_trials),
            desc="trials",
            unit="trial",
            file=sys.stdout,
            disable=None,  # a bar on a terminal; the trial lines in logs
            dynamic_ncols=True,
        )

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_start = time.perf_counter()
        self._peak_rss = None
        self._execution = 0
        with open(self._log_path, "a") as f:
            f.write(f"start {trial.trial_id}\n")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        trial = self.oracle.get_trial(trial.trial_id)
        seconds = time.perf_counter() - self._trial_start
        stats = json.loads(self._stats_path.read_text())
        stats[trial.trial_id] = {
            "seconds": round(seconds, 1),
            "rss_mb": round(resident_mb(), 1),
            "trial_peak_rss_mb": self._peak_rss,
        }
        files.write_text(self._stats_path, json.dumps(stats, indent=2) + "\n")
        name = self.oracle.objective.name
        if trial.status == "COMPLETED":
            best = self.oracle.get_best_trials(1)[0].score
            result = f"{name} {trial.score:.4f} (best {best:.4f})"
        else:
            last = (trial.message or "").strip().splitlines()[-1:]
            result = f"{trial.status}: {' '.join(last)}"
        values = trial.hyperparameters.values
        epochs = values.get("tuner/epochs")  # hyperband's budget
        values = ", ".join(
            [f"{k}={_short(v)}" for k, v in values.items() if "/" not in k]
            + ([f"epochs={epochs}"] if epochs else [])
        )
        self._bar.write(
            f"trial {trial.trial_id}: {result}; {values}; {seconds:.0f} s"
        )
        self._bar.update(1)

    def on_search_end(self):
        super().on_search_end()
        self._bar.close()


def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def resident_mb():
    """This process's resident memory in MiB (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_from(tuner, values):
    """Makes the first trial of a new search try `values` (the preset), so
    that the best trial is never worse than the preset; later trials are
    the tuner's own."""
    oracle = tuner.oracle
    sample = oracle.populate_space

    def populate_space(trial_id):
        if not oracle.trials:
            return {"status": "RUNNING", "values": dict(values)}
        return sample(trial_id)

    oracle.populate_space = populate_space


def make_tuner(kind, hypermodel, objective, args, out, argv):
    import keras_tuner

    base = {
        "random": keras_tuner.RandomSearch,
        "bayesian": keras_tuner.BayesianOptimization,
        "hyperband": keras_tuner.Hyperband,
    }[kind]
    cls = type(f"Zoo{base.__name__}", (_Progress, base), {})
    common = {
        "objective": objective,
        "seed": args.seed,
        "directory": str(out),
        "project_name": "search",
        "overwrite": False,  # resume a killed search
        "max_consecutive_failed_trials": 3,
        "executions_per_trial": args.executions_per_trial,
    }
    if kind == "hyperband":
        tuner = cls(hypermodel, max_epochs=args.epochs_per_trial, **common)
        tuner.oracle.max_trials = args.max_trials
    elif kind == "bayesian":
        # keras-tuner's default, 3 random trials per hyper-parameter, would
        # spend a short search on random trials alone; a third of the
        # budget leaves the rest to the Gaussian process.
        tuner = cls(
            hypermodel,
            max_trials=args.max_trials,
            num_initial_points=max(2, args.max_trials // 3),
            **common,
        )
    else:
        tuner = cls(hypermodel, max_trials=args.max_trials, **common)
    tuner._argv = argv
    tuner._log_path = out / "trials.log"
    tuner._stats_path = out / "trial_stats.json"
    if not tuner._stats_path.is_file():
        tuner._stats_path.write_text("{}\n")
    return tuner


def best_epoch_value(history, objective):
    values = history[objective.name]
    return max(values) if objective.direction == "max" else min(values)


def run_trial_process(argv, request, path):
    """Runs one trial in a fresh Python process (`python -m zoo tune ...
    --trial-worker FILE`) and returns its result. TensorFlow keeps memory
    from every model trained in a process, even after
    `keras.backend.clear_session()` (about 50 MB per trial for a 2-layer
    ViT here; keras-team/keras#17458), so each trial gets its own process
    and returns all of it when it ends."""
    import os
    import subprocess

    path.write_text(json.dumps(request) + "\n")
    root = str(pathlib.Path(__file__).resolve().parents[1])  # holds zoo/
    paths = [root, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        SEARCH_PID_ENV: str(os.getpid()),
    }
    result_path = pathlib.Path(request["result"])
    result_path.unlink(missing_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoo",
            "tune",
            *argv,
            "--trial-worker",
            str(path),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    if done.returncode or not result_path.is_file():
        tail = "\n".join(done.stdout.strip().splitlines()[-15:])
        raise TrialFailed(
            f"the trial's process exited with {done.returncode}:\n{tail}"
        )
    return json.loads(result_path.read_text())


class TrialFailed(RuntimeError):
    pass


def trial_worker(request, task, make_hypermodel, objective, args):
    """In the trial's own process: build the model for `request["values"]`,
    optionally start from saved weights (hyperband's next round), train,
    keep the best epoch's weights, write the per-epoch metrics."""
    import keras
    import keras_tuner

    keras.utils.set_random_seed(args.seed)
    hypermodel = make_hypermodel(request["values"])
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    if request.get("load_weights"):
        model.load_weights(request["load_weights"])
    callbacks = []
    if request.get("save_weights"):
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                request["save_weights"],
                monitor=objective.name,
                mode=objective.direction,
                save_best_only=True,
                save_weights_only=True,
            )
        )
    history = model.fit(
        task.train,
        validation_data=task.val,
        epochs=request["epochs"],
        initial_epoch=request.get("initial_epoch", 0),
        steps_per_epoch=task.steps_per_epoch,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )
    result = {
        "history": {
            k: [float(v) for v in vs] for k, vs in history.history.items()
        },
        "values": hp.values,
        "peak_rss_mb": round(peak_resident_mb(), 1),
    }
    files.write_text(request["result"], json.dumps(result) + "\n")


# The search's process id, for its trial processes to watch.
SEARCH_PID_ENV = "ZOO_TUNE_SEARCH_PID"


def _exit_with_parent():
    """Ends this process when the search that started it dies (killed),
    so that no orphaned trial keeps the CPU busy. On Linux the kernel
    sends SIGKILL the moment the parent dies (`PR_SET_PDEATHSIG`); a
    thread that polls the parent's id covers the other systems."""
    import os
    import threading

    parent = int(os.environ.get(SEARCH_PID_ENV, os.getppid()))
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died before the request took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def peak_resident_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_baseline(task, out, args, objective, argv):
    """The preset trained with a trial's budget (once; kept on disk)."""
    path = out / "baseline.json"
    if path.is_file():
        return json.loads(path.read_text())
    print("Baseline: the preset's own values, with a trial's budget")
    scores = []
    with runs.Timer() as timer:
        for execution in range(args.executions_per_trial):
            name = f"execution{execution}." if execution else ""
            result = run_trial_process(
                argv,
                {
                    "execution": execution,
                    "values": task.preset_values,
                    "epochs": args.epochs_per_trial,
                    "result": str(out / f"baseline.{name}result.json"),
                },
                out / f"baseline.{name}request.json",
            )
            if objective.name not in result["history"]:
                raise cli.UsageError(
                    f"--objective {objective.name} is not a metric the "
                    f"trials log. They log: {sorted(result['history'])}"
                )
            scores.append(best_epoch_value(result["history"], objective))
    baseline = {
        "value": float(sum(scores) / len(scores)),
        "executions": [float(v) for v in scores],
        "seconds": round(timer.seconds, 1),
        "hyperparameters": result["values"],
    }
    files.write_text(path, json.dumps(baseline, indent=2) + "\n")
    print(f"baseline {objective.name} {baseline['value']:.4f}")
    return baseline


# ---------------------------------------------------------------- results


def trial_rows(tuner, out):
    """One dict per trial, in the order they were created."""
    stats = json.loads((out / "trial_stats.json").read_text())
    rows = []
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.get_trial(trial_id)
        rows.append(
            {
                "trial": trial_id,
                "status": trial.status,
                "score": trial.score,
                **{k: None for k in _STAT_COLUMNS[3:]},
                **stats.get(trial_id, {}),
                **trial.hyperparameters.values,
            }
        )
    return rows


def write_summary(rows, baseline, objective, record, out):
    """summary.csv (every trial), summary.md (best first, with the
    baseline) and trials.png (objective vs trial)."""
    names = []
    for row in rows:
        names += [k for k in row if k not in names]
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)

    done = [r for r in rows if r["status"] == "COMPLETED"]
    reverse = objective.direction == "max"
    done.sort(key=lambda r: r["score"], reverse=reverse)
    hp_names = [n for n in names if n not in _STAT_COLUMNS]
    executions = record.get("executions_per_trial", 1)
    lines = [
        f"# Search: {record['task']} on {record['dataset']}",
        "",
        f"`{record['command']}`",
        "",
        f"{record['tuner']} search, {len(done)} completed trials of "
        f"{record['epochs_per_trial']} epochs"
        + (
            f", each trained {executions} times (mean score)"
            if executions > 1
            else ""
        )  # fmt: skip
        + " (random and bayesian searches "
        "try the preset's values first when the space holds them); "
        f"objective {objective.name} "
        f"({objective.direction}). Baseline (preset {record['preset']}, the "
        f"same budget): {baseline['value']:.4f}.",
        "",
        "| trial | "
        + objective.name
        + " | seconds | "
        + " | ".join(hp_names)
        + " |",  # fmt: skip
        "|---" * (len(hp_names) + 3) + "|",
    ]
    for r in done:
        cells = [r["trial"], f"{r['score']:.4f}", f"{r['seconds']}"]
        cells += [_short(r.get(n, "")) for n in hp_names]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    baseline_cells = ["preset", f"{baseline['value']:.4f}"]
    baseline_cells += [f"{baseline.get('seconds', '')}"]
    baseline_cells += [
        _short(baseline["hyperparameters"].get(n, "")) for n in hp_names
    ]
    lines.append("| " + " | ".join(map(str, baseline_cells)) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    plot_trials(rows, baseline, objective, out / "trials.png", record)


_STAT_COLUMNS = (
    "trial",
    "status",
    "score",
    "seconds",
    "rss_mb",
    "trial_peak_rss_mb",
)


def plot_trials(rows, baseline, objective, path, record):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, best, best_ys = [], [], None, []
    better = max if objective.direction == "max" else min
    for i, r in enumerate(rows):  # x = the trial number, from 0
        if r["status"] != "COMPLETED":
            continue
        xs.append(i)
        ys.append(r["score"])
        best = r["score"] if best is None else better(best, r["score"])
        best_ys.append(best)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(xs, ys, "o", label="trial")
    ax.step(xs, best_ys, where="post", label="best so far")
    ax.axhline(baseline["value"], color="grey", linestyle="--")
    ax.annotate(
        f"preset {record['preset']}",
        (0, baseline["value"]),
        textcoords="offset points",
        xytext=(0, 4),
        color="grey",
    )
    ax.set_xlabel("trial")
    ax.set_ylabel(objective.name)
    ax.set_title(f"{record['tuner']} search: {record['task']} on "
                 f"{record['dataset']}")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_best(rows, baseline, objective, record, task, out):
    done = [r for r in rows if r["status"] == "COMPLETED"]
    if not done:
        raise RuntimeError(f"No trial completed; see {out / 'search'}")
    pick = max if objective.direction == "max" else min
    best = pick(done, key=lambda r: r["score"])
    values = {
        k: v
        for k, v in best.items()
        if k not in _STAT_COLUMNS and not k.startswith("tuner/")
    }
    result = {
        "task": record["task"],
        "dataset": record["dataset"],
        "preset": record["preset"],
        **(
            {"src": record["src"], "tgt": record["tgt"]}
            if record["task"] == "translation"
            else {}
        ),  # fmt: skip
        "objective": objective.name,
        "direction": objective.direction,
        "trial": best["trial"],
        "value": best["score"],
        "baseline_value": baseline["value"],
        "hyperparameters": values,
        "config": task.to_config(values),
        "command": record["command"],
    }
    files.write_text(out / "best.json", json.dumps(result, indent=2) + "\n")
    return result


# ---------------------------------------------------------------- main


def check_out(out, record):
    """Before anything is written: `out` must be a new or empty folder, or
    one that holds this search (killed, or finished)."""
    if (out / "config.json").is_file():
        raise cli.UsageError(
            f"--out {out} holds a training run, not a search. Give another "
            "--out."
        )
    if not (out / "tune.json").is_file():
        if out.is_dir() and any(out.iterdir()):
            raise cli.UsageError(
                f"--out {out} is not empty and holds no search (no "
                "tune.json). Give a new or empty folder."
            )
        return
    runs.check_record(out / "tune.json", record, RESUME_KEYS, "a search")


def main(argv=None):
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    parser = add_arguments(
        cli.ArgumentParser(
            prog="python -m zoo tune TASK",
            description=__doc__.splitlines()[0],
        )
    )
    if not argv or argv[0] not in TASKS:
        parser.error(f"the first argument must be a task: {', '.join(TASKS)}")
    task_name, args = argv[0], parser.parse_args(argv[1:])
    if task_name == "translation" and args.src == args.tgt:
        parser.error(
            f"--src and --tgt are both {args.src!r}: give two languages"
        )

    # Every check before the first write: arguments, settings, folder.
    preset, cfg = task_config(task_name, args.dataset, args.preset)
    space_path, space_file = args.space or (None, {})
    space = {**ZOO_SPACES.get((task_name, args.dataset), {}), **space_file}
    out = pathlib.Path(args.out or f"runs/tune-{task_name}-{args.dataset}")
    record = {
        "task": task_name,
        "dataset": args.dataset,
        "preset": preset,
        "tuner": args.tuner,
        "objective": args.objective,
        "executions_per_trial": args.executions_per_trial,
        "max_trials": args.max_trials,
        "epochs_per_trial": args.epochs_per_trial,
        "steps_per_epoch": args.steps_per_epoch,
        "seed": args.seed,
        "space": space,
        "src": args.src,
        "tgt": args.tgt,
        "command": runs.command_line(),
    }
    request = None
    if args.trial_worker:
        # First, before the imports and the data: a search killed while
        # this process starts up takes it along.
        _exit_with_parent()
        request = json.loads(pathlib.Path(args.trial_worker).read_text())
        args.seed += request.get("execution", 0)
    else:
        check_out(out, record)
    search_space = space_from_json(space, f"--space {space_path}")

    import keras
    import keras_tuner

    from keras_transformer.tuning import space as space_lib

    keras.utils.set_random_seed(args.seed)
    # A start that fails (no data, a space the library refuses, an
    # objective the baseline's trials do not log) leaves the folder as it
    # was found.
    starting = (
        contextlib.nullcontext()
        if request
        else files.undo_on_failure(out, ("tune.json",))
    )
    with starting:
        if request is None:
            out.mkdir(parents=True, exist_ok=True)
            runs.write_record(
                out / "tune.json", record, RESUME_KEYS, "a search"
            )
        task = TASKS[task_name](args, cfg, out)

        hypermodel_class = task.hypermodel_class
        objective = hypermodel_class.OBJECTIVE
        if args.objective:
            direction = "max" if "accuracy" in args.objective else "min"
            objective = keras_tuner.Objective(args.objective, direction)
        fixed = {  # the preset's settings that the search keeps
            k: v
            for k, v in task.preset_values.items()
            if space_lib.is_fixed(hypermodel_class.SEARCH_SPACE[k])
        }

        def make_hypermodel(overrides):
            extra = {}
            if task.takes_total_steps:
                extra["total_steps"] = (
                    task.steps_per_epoch * args.epochs_per_trial
                )
            return hypermodel_class(
                search_space=overrides,
                jit_compile=not args.no_jit,
                **extra,
                **task.model_args,
            )

        if request is not None:
            trial_worker(request, task, make_hypermodel, objective, args)
            return None
        try:
            hypermodel = make_hypermodel({**fixed, **search_space})
        except ValueError as e:
            if space_path is None:
                raise  # the zoo's own space: a bug
            raise cli.UsageError(f"--space {space_path}: {e}") from None
        baseline = run_baseline(task, out, args, objective, argv)
    tuner = make_tuner(args.tuner, hypermodel, objective, args, out, argv)
    first = {k: task.preset_values[k] for k in hypermodel.search_space}
    if args.tuner == "hyperband":
        pass  # hyperband picks its brackets' trials itself
    elif all(
        space_lib.contains(spec, first[name])
        for name, spec in hypermodel.search_space.items()
    ):
        start_from(tuner, first)
    else:
        print("The preset is outside the search space: not tried first.")
    print(
        f"Search space: {hypermodel.search_space}\n"
        f"{args.tuner} search, {args.max_trials} trials of "
        f"{args.epochs_per_trial} epochs x {task.steps_per_epoch} steps; "
        f"objective {objective.name} ({objective.direction})"
    )
    tuner.search(
        task.train,
        validation_data=task.val,
        epochs=args.epochs_per_trial,
        steps_per_epoch=task.steps_per_epoch,
        verbose=0,
        shuffle=False,
    )
    rows = trial_rows(tuner, out)
    write_summary(rows, baseline, objective, record, out)
    best = write_best(rows, baseline, objective, record, task, out)
    gain = best["value"] - baseline["value"]
    if objective.direction == "min":
        gain = -gain
    print(
        f"best trial {best['trial']}: {objective.name} {best['value']:.4f} "
        f"(preset {baseline['value']:.4f}, "
        f"{'better' if gain > 0 else 'not better'} by {abs(gain):.4f})\n"
        f"Wrote {out / 'summary.md'}, summary.csv, trials.png and best.json. "
        f"Train with it: python -m zoo train {task_name} --dataset "
        f"{args.dataset} --hparams {out / 'best.json'}"
    )
    if not math.isfinite(best["value"]):
        raise RuntimeError("The best trial's score is not finite.")
    return best
