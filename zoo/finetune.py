"""Fine-tune a finished run on new data: LoRA or every weight, or train
the same model from scratch on it as the baseline they are compared to.

    python -m zoo finetune gpt RUN_DIR --data my_text.txt
    python -m zoo finetune vit RUN_DIR --dataset digits --mode full

What every family's fine-tuning shares (`zoo/<task>/finetune.py` adds
its data, its measure and its sample): the options, the check of the
output folder, LoRA (`model.enable_lora`: only the low-rank updates
train, every other weight is frozen), full fine-tuning, or training from
scratch (the base run's model configuration with fresh weights drawn
from `--seed`, every weight trains: the base run's weights are not
used), training that keeps the weights of the lowest validation loss
(the model as it was counts as epoch 0), and the output folder, written
whole at the end.

The output folder is a run directory of the base run's task: config.json
(the base run's model config, the base run and the fine-tuning settings),
model.keras (LoRA merged into the kernels: a plain model), metrics.json,
history.csv and training_curves.png, so `python -m zoo evaluate`,
`generate`, `predict` and `export` take it like the base run. Nothing is
written before training has finished: a failed or killed fine-tuning
leaves no output folder (at most a `.tmp-*` folder beside it). A rerun of
the same command prints the metrics and trains nothing; a rerun with
other settings is refused.
"""

import argparse
import csv
import io
import json
import sys
import time

from zoo import cli
from zoo import files
from zoo import runs
from zoo import tasks
from zoo.cli import UsageError

MODES = ("lora", "full", "scratch")
# The layers `enable_lora` can adapt in every block (and the head).
LORA_TARGETS = (
    "query",
    "key",
    "value",
    "attention_output",
    "inner_dense",
    "output_dense",
    "head",
)
DEFAULT_RANK = 8
DEFAULT_TARGETS = ("query", "value")  # Hu et al. (2021), section 7.1


def finetune_tasks():
    return [task for task in tasks.TASKS if "finetune" in tasks.COMMANDS[task]]


def main(argv=None):
    """`python -m zoo finetune TASK RUN_DIR ...`: TASK's own command."""
    argv = list(argv or [])
    parser = cli.ArgumentParser(
        prog="python -m zoo finetune",
        description="Fine-tune a finished run on new data with LoRA (or "
        "every weight); TASK --help lists its options.",
    )
    parser.add_argument("task", choices=finetune_tasks())
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    task = parser.parse_args(argv[:1]).task
    return tasks.command(task, "finetune")(argv[1:])


def _targets(text):
    """`--lora-targets`: names of `LORA_TARGETS`, comma-separated."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(name in LORA_TARGETS for name in names):
        raise argparse.ArgumentTypeError(
            f"must be a comma-separated list of {', '.join(LORA_TARGETS)}; "
            f"received {text!r}"
        )
    return names


def parser(task, description, learning_rates):
    """The parser of `python -m zoo finetune TASK` with the options every
    family takes (`learning_rates`: the default per mode); the family adds
    its own."""
    parser = cli.ArgumentParser(
        prog=f"python -m zoo finetune {task}", description=description
    )
    parser.add_argument(
        "run_dir",
        help=f"the --out folder of a `python -m zoo train {task}` run",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="lora",
        help="lora: train only rank-r updates of the --lora-targets "
        "projections, every other weight frozen; full: train every weight; "
        "scratch: train every weight of a freshly initialized model of the "
        "run's configuration, the baseline (default: lora)",
    )
    parser.add_argument(
        "--lora-rank",
        type=cli.POSITIVE,
        help=f"rank of each update (default: {DEFAULT_RANK})",
    )
    parser.add_argument(
        "--lora-targets",
        type=_targets,
        help="comma-separated layers to adapt in every block (default: "
        f"{','.join(DEFAULT_TARGETS)}); among {', '.join(LORA_TARGETS)}",
    )
    parser.add_argument(
        "--learning-rate",
        type=cli.number(0.0, low_open=True),
        help=f"peak rate (default: {learning_rates['lora']:g} for LoRA, "
        f"{learning_rates['full']:g} for --mode full, "
        f"{learning_rates['scratch']:g} for --mode scratch)",
    )
    parser.add_argument(
        "--out",
        type=cli.OUT_DIR,
        help="output folder (default: RUN_DIR-MODE-DATA beside the run)",
    )
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)
    parser.add_argument(
        "--no-jit", action="store_true", help="compile without XLA"
    )
    return parser


def settings(args, parser, learning_rates):
    """The shared settings as a dict (what config.json records): mode,
    rank and targets (LoRA only), learning rate (`learning_rates[mode]`
    unless given), seed."""
    if args.mode != "lora" and (args.lora_rank or args.lora_targets):
        parser.error("--lora-rank and --lora-targets apply to --mode lora")
    lora = args.mode == "lora"
    return {
        "mode": args.mode,
        "lora_rank": (args.lora_rank or DEFAULT_RANK) if lora else None,
        "lora_targets": list(args.lora_targets or DEFAULT_TARGETS)
        if lora
        else None,
        "learning_rate": args.learning_rate or learning_rates[args.mode],
        "seed": args.seed,
    }


def open_base(args, task):
    """`(run, record)` of the finished base run RUN_DIR."""
    run = runs.RunDir(args.run_dir)
    return run, run.load_finished(task)


def output(args, run, name, record):
    """The output folder (`--out`, else `RUN_DIR-MODE-name`) and whether it
    already holds this fine-tuning finished (`True`), after refusing a
    folder that holds anything else."""
    base = run.path if run.path.name else run.path.resolve()  # "."
    out = args.out or base.with_name(f"{base.name}-{args.mode}-{name}")
    if out.resolve() == run.path.resolve():
        raise UsageError(
            f"--out {out} is the base run; give another folder (the base "
            "run stays as it is)."
        )
    if not out.is_dir() or not any(out.iterdir()):
        return out, False
    old_path = out / "config.json"
    old = {}
    if old_path.is_file():
        try:
            old = json.loads(old_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    if not isinstance(old, dict) or "finetune" not in old:
        raise UsageError(
            f"--out {out} is not empty and holds no fine-tuning. Give a new "
            "or empty folder."
        )
    changes = runs.differences(old, record, ("task", "base_run", "finetune"))
    if changes:
        raise UsageError(
            f"--out {out} holds a fine-tuning with other settings "
            f"({runs.describe(changes)}). Use another --out, or delete the "
            "folder to start over."
        )
    if not (out / "metrics.json").is_file():
        raise UsageError(
            f"--out {out} holds an unfinished fine-tuning (no metrics.json)."
            " Delete the folder to start over."
        )
    return out, True


def print_finished(out):
    metrics = json.loads((out / "metrics.json").read_text())
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    print(
        f"{out} holds this fine-tuning, finished. Use another --out, or "
        f"delete the folder to run it again. Its metrics: {shown}"
    )
    return metrics


def record(task, run, base, finetune):
    """config.json of the output folder: the base run's model config (so
    the zoo's commands take the folder like a run), the base run and the
    fine-tuning settings."""
    return {
        "task": task,
        "config": base["config"],
        "base_run": {
            "path": str(run.path.resolve()),
            "command": base.get("command"),
        },
        "finetune": finetune,
        "data_dir": base.get("data_dir"),
        "command": runs.command_line(),
    }


def start(run, base, finetune, seed, train_fully=()):
    """Seeds, loads the model to fine-tune (`load_model`) and adapts it
    (`adapt`), saying which run it comes from. Returns `(model,
    parameters, trainable)`: the model and its counts of scalars."""
    import keras

    keras.utils.set_random_seed(seed)
    model = load_model(run, base, finetune)
    parameters = model.count_params()
    print(f"Base run: {run.path} ({parameters:,} parameters)")
    trainable = adapt(model, finetune, train_fully)
    return model, parameters, trainable


def load_model(run, base, finetune):
    """The base run's model; for `--mode scratch`, a model of the same
    configuration (the same class and arguments) with fresh weights, drawn
    from the random seed set before."""
    model = run.load_model(base)
    if finetune["mode"] != "scratch":
        return model
    import keras

    return keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)  # built, not its weights
    )


def adapt(model, finetune, train_fully=()):
    """LoRA on `model` as `finetune` says (nothing to do for full
    fine-tuning or from scratch: every weight trains); then every weight
    of the layers named in `train_fully` trains too, unless LoRA adapts
    them. Returns the number of trainable scalars."""
    import math

    if finetune["mode"] == "lora":
        try:
            model.enable_lora(
                finetune["lora_rank"], targets=finetune["lora_targets"]
            )
        except ValueError as e:
            raise UsageError(f"--lora-targets: {e}") from None
        whole = set(train_fully) - set(finetune["lora_targets"])
        for weight in model.weights:
            if weight.path.split("/")[-2] in whole:
                weight.trainable = True
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def describe(finetune, parameters, trainable):
    """The line saying what trains."""
    share = f"{trainable:,} of {parameters:,} parameters train"
    share += f" ({trainable / parameters:.1%})"
    if finetune["mode"] == "full":
        return f"Full fine-tuning: {share}"
    if finetune["mode"] == "scratch":
        return f"From scratch (fresh weights, seed {finetune['seed']}): {share}"
    targets = ", ".join(finetune["lora_targets"])
    return f"LoRA rank {finetune['lora_rank']} on {targets}: {share}"


def _keep_best(before, model):
    """A callback that keeps the values of the trainable weights at the
    lowest `val_loss`, starting from `before` (the loss of the model as it
    was: epoch 0). `callback.restore()` puts them back; `callback.epoch`
    is the epoch they are from."""
    import keras

    class KeepBest(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.loss, self.epoch = before, 0
            self.values = [v.numpy() for v in model.trainable_variables]

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss")
            if loss is not None and loss < self.loss:
                self.loss, self.epoch = loss, epoch + 1
                self.values = [v.numpy() for v in model.trainable_variables]

        def restore(self):
            for variable, value in zip(
                model.trainable_variables, self.values, strict=True
            ):
                variable.assign(value)

    return KeepBest()


def train(model, train_data, val_data, epochs, steps_per_epoch, before):
    """`model.fit` with validation after each epoch; the weights of the
    lowest validation loss are restored (those of the model as it was when
    no epoch beats `before`). Returns `(history, train_seconds,
    kept_epoch)`."""
    best = _keep_best(before, model)
    start = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[best],
        verbose=1 if sys.stdout.isatty() else 2,
        shuffle=False,  # the pipelines shuffle
    )
    seconds = time.perf_counter() - start
    best.restore()
    return history.history, seconds, best.epoch


def kept_note(kept, epochs):
    """Which weights were kept, in words."""
    if kept == 0:
        return (
            f"no epoch of {epochs} beat the model as it was: it is kept "
            "unchanged"
        )
    return f"epoch {kept} of {epochs} kept"


def _history_csv(history):
    names = list(history)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for epoch in range(len(history[names[0]]) if names else 0):
        writer.writerow([epoch, *(history[n][epoch] for n in names)])
    return text.getvalue()


def save(out, config, model, metrics, history, title, compile_model,
         extra=None):  # fmt: skip
    """Writes the output folder whole, or nothing: config.json,
    model.keras, history.csv, training_curves.png, `extra(folder)`'s files,
    and metrics.json (with hardware and command). Returns the metrics.

    A LoRA model saves with the updates merged into the kernels; it is
    then loaded back as the plain model it is and compiled by
    `compile_model(model)` with a fresh optimizer, so that the file holds
    what a trained run's does (its compile settings, an optimizer for all
    its weights) and loads without warnings."""
    import keras

    from keras_transformer.visualization import plot_history
    from zoo import results

    metrics = {
        **metrics,
        "hardware": results.hardware(),
        "command": config["command"],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(out) as temp:
        temp.mkdir()
        (temp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        path = temp / "model.keras"
        model.save(path)
        if config["finetune"]["mode"] == "lora":
            model = keras.saving.load_model(path, compile=False)
            compile_model(model)
            model.optimizer.build(model.trainable_variables)
            model.save(path)
        (temp / "history.csv").write_text(_history_csv(history))
        if history:
            plot_history(history, temp / "training_curves.png", title=title)
        if extra is not None:
            extra(temp)
        (temp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
