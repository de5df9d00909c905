"""One run skeleton for every model family.

`python -m zoo train TASK` and every trial of `python -m zoo tune TASK`
go through the same steps: settings from a preset (and `--hparams`),
seed, dtype policy, data pipeline, strategy, model, compile, fit. A
family (`zoo/<task>/train.py`) supplies only what differs, as a
`Family`: its options, presets, data, model, how it compiles (through
`keras_transformer.recipes`) and what it measures after training. So a
search trial trains exactly what `train --hparams best.json` trains with
the trial's seed and budget (best.json's `replay` command).
"""

import dataclasses

from zoo import cli
from zoo import options
from zoo import runs
from zoo.skeleton import check_replicas  # noqa: F401 (recipe.* API)
from zoo.skeleton import conclude
from zoo.skeleton import configure_cpu_replicas
from zoo.skeleton import fit
from zoo.skeleton import load_data
from zoo.skeleton import loaded  # noqa: F401
from zoo.skeleton import make_strategy  # noqa: F401
from zoo.skeleton import start
from zoo.skeleton import stopping  # noqa: F401

# What every training record holds; a family adds its own (src, tgt).
RECORD_KEYS = (
    "task", "preset", "config", "seed", "precision", "strategy",
    "distribution",
)  # fmt: skip


@dataclasses.dataclass
class Prepared:
    """A family's data, ready for `model.fit`."""

    train: object  # repeats where an epoch is fewer steps than the data
    val: object
    steps_per_epoch: int
    extra: dict = dataclasses.field(default_factory=dict)  # tokenizers...


class Family:
    """What one model family supplies to the skeleton. Subclasses set the
    attributes and implement the methods that raise here."""

    name = ""  # the task: vit, gpt, translation
    description = ""
    config = None  # the family's config module: PRESETS, DEFAULT_PRESET
    # Options that override a config field: (flag, field, argparse type,
    # help). `length` is the field `--extend` may raise.
    options = ()
    length = "epochs"
    record_keys = ()  # more settings a run records and resumes by
    # Config fields a search may not vary: what its trials share (the
    # data, tokenizers, validation split) or what the data fixes.
    fixed_in_search = ()
    monitor = "val_loss"  # the best weights are those of its lowest value
    hypermodel = ""  # the keras_transformer.tuning class: default space

    def add_arguments(self, parser):
        """The family's own arguments beyond `options` (src, tgt...)."""

    def check_args(self, args, parser):
        """Refuses arguments that do not go together."""

    def out_dir(self, args):
        return f"runs/{self.name}-{args.dataset}"

    def title(self, preset, args):
        """The title of the training-curves plot."""
        return f"{self.name} {preset}"

    def check_config(self, cfg, source):
        """Refuses settings this family cannot train (`source` names where
        they came from)."""

    def load_data(self, cfg, args):
        """The raw data (`args`: `data_dir`, `seed`, and the family's own
        arguments such as `src`)."""
        raise NotImplementedError

    def check_data(self, cfg, data):
        """Refuses settings the loaded data cannot train (a batch larger
        than the training set), before anything is written."""

    def prepare(self, folder, cfg, data, seed, verbose=True):
        """A `Prepared` from the raw `data`; what it learns from the data
        (tokenizers) is kept in `folder`."""
        raise NotImplementedError

    def build_model(self, cfg, prepared):
        raise NotImplementedError

    def compile_model(self, model, cfg, steps_per_epoch, jit_compile):
        raise NotImplementedError

    def epochs(self, cfg):
        """`fit`'s epochs for the whole run."""
        return getattr(cfg, self.length)

    def describe(self, model, cfg, prepared):
        """The line printed once the model is built."""
        return (
            f"{model.count_params():,} parameters; {self.epochs(cfg)} "
            f"epochs of {prepared.steps_per_epoch} steps"
        )

    def steps_per_length(self, cfg):
        """How many units of `length` one epoch is (GPT: iterations)."""
        return 1

    def finish(self, run, model, cfg, prepared, data, args):
        """After training, with the best weights: measures, saves plots and
        samples. Returns `(results, line)`: `results(history)` is the dict
        for metrics.json, `line(metrics)` the summary to print (metrics
        holds `train_seconds` too)."""
        raise NotImplementedError

    def values_of(self, cfg):
        """The config as search-space values (`d_ff` as a multiple)."""
        values = dataclasses.asdict(cfg)
        multiple = cfg.d_ff / cfg.d_model
        values["d_ff_multiple"] = (
            int(multiple) if multiple.is_integer() else multiple
        )
        return values

    def config_changes(self, cfg, values):
        """The config fields a trial's search-space `values` set."""
        changes = {k: v for k, v in values.items() if k != "d_ff_multiple"}
        if "d_ff_multiple" in values:
            d_model = values.get("d_model", cfg.d_model)
            changes["d_ff"] = int(values["d_ff_multiple"] * d_model)
        return changes


# ---------------------------------------------------------------- training


def choose_precision(args, cfg, run):
    """Resolves `--precision auto` (`zoo.precision`) in `args`: the
    policy, and XLA or not, that this run trains with and records."""
    from zoo import precision

    recorded = None
    if args.precision == "auto" and run.config.is_file():
        old = run.load_config()
        if "precision" in old:
            recorded = (old["precision"], old.get("jit_compile"))
    machines = 2 if args.strategy == "multiworker" else 1
    policy, jit, reason = precision.choose(
        args.precision,
        not args.no_jit,
        getattr(cfg, "d_model", None),
        recorded,
        machines,
    )
    args.precision, args.no_jit = policy, not jit
    print(f"Precision {policy}, {'XLA' if jit else 'without XLA'} ({reason})")


def train(family, argv=None):
    """`python -m zoo train TASK`: every check before the first write,
    then training with resume and best-weights keeping, the family's
    measurements, and metrics.json last."""
    parser = options.add_arguments(
        family,
        cli.ArgumentParser(
            prog=f"python -m zoo train {family.name}",
            description=family.description,
        ),
    )
    args = parser.parse_args(argv)
    family.check_args(args, parser)

    # Every check before the first write: arguments, settings, folder.
    preset, cfg = options.settings(family, args)
    run = runs.RunDir(args.out or family.out_dir(args))
    choose_precision(args, cfg, run)
    record = {
        "task": family.name,
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        **{key: getattr(args, key) for key in family.record_keys},
        "seed": args.seed,
        "precision": args.precision,
        "jit_compile": not args.no_jit,
        "strategy": args.strategy,
        "distribution": args.distribution,
        "data_dir": args.data_dir and str(args.data_dir),
        "command": runs.command_line(),
    }
    keys = (*RECORD_KEYS, *family.record_keys)
    from zoo import processes

    cluster = processes.make_cluster(args, cfg)
    if cluster is not None:
        return processes.train(family, args, run, record, keys, preset, cfg,
                               cluster)  # fmt: skip
    status = run.check(record, keys, args.extend, family.length,
                       runs.added_fields(cfg))  # fmt: skip
    if status == "finished":
        return run.finished_metrics()
    data = load_data(family, cfg, args)
    family.check_data(cfg, data)
    configure_cpu_replicas(args.cpu_replicas)

    from zoo import checkpoints

    with run.starting(record, extend=status == "extend"):
        print(f"Run directory: {run.path}\nPreset {preset}: {cfg}")
        model, prepared, state = start(
            family,
            cfg,
            data,
            run.path,
            seed=args.seed,
            precision=args.precision,
            strategy=args.strategy,
            jit_compile=not args.no_jit,
            steps_per_epoch=args.steps_per_epoch,
            restore=lambda model: checkpoints.restore(run, model),
        )
        print(family.describe(model, cfg, prepared))

    callbacks = runs.training_callbacks(run, state, family.monitor)
    fit(family, model, prepared, cfg, callbacks, state["epoch"])
    return conclude(family, run, model, cfg, prepared, data, args, record,
                    preset, state, callbacks[0])  # fmt: skip
