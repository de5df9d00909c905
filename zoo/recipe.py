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
import sys

from zoo import cli
from zoo import options
from zoo import results
from zoo import runs
from zoo.cli import UsageError

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


def start(family, cfg, data, folder, *, seed, precision="float32",
          strategy="default", jit_compile=True, steps_per_epoch=None,
          restore=None, verbose=True, cluster=None):  # fmt: skip
    """Seed, dtype policy, data pipeline, model, compile: the same steps in
    the same order for a training run and a search trial, so that the same
    settings and seed train the same model. `restore(model)` (inside the
    strategy's scope) loads a saved state. `cluster` (several processes)
    brings its own strategy and cuts the pipelines into this process's
    share. Returns `(model, prepared, restored)`."""
    import keras

    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(precision)
    prepared = family.prepare(folder, cfg, data, seed, verbose=verbose)
    if steps_per_epoch:
        prepared.steps_per_epoch = min(
            prepared.steps_per_epoch, steps_per_epoch
        )
    if cluster is not None:
        cluster.adapt(prepared)
    distribution = getattr(cluster, "strategy", None) or make_strategy(strategy)
    check_replicas(cfg, distribution.num_replicas_in_sync, strategy)
    with distribution.scope():
        model = family.build_model(cfg, prepared)
        # XLA cannot place a mirrored variable's replicas across CPU devices
        # (TensorFlow's known XLA issue), so distributed runs compile
        # without.
        jit = jit_compile and strategy == "default"
        family.compile_model(model, cfg, prepared.steps_per_epoch, jit)
        restored = restore(model) if restore else None
    return model, prepared, restored


def check_replicas(cfg, replicas, strategy="mirrored"):
    """A batch of `cfg.batch_size` examples must split evenly across the
    replicas: Keras averages the replicas' first batches before training
    and fails on halves of different sizes, and the replicas of several
    workers would train on batches of different sizes."""
    batch_size = getattr(cfg, "batch_size", None)
    if replicas > 1 and batch_size and batch_size % replicas:
        raise UsageError(
            f"--batch-size {batch_size} does not split across the "
            f"{replicas} replicas of --strategy {strategy}. Give a multiple "
            f"of {replicas}."
        )


def stopping(cfg, monitor):
    """Early stopping on `monitor` when the config asks for it."""
    import keras

    patience = getattr(cfg, "patience", 0)
    if not patience:
        return []
    return [keras.callbacks.EarlyStopping(monitor=monitor, patience=patience)]


def fit(family, model, prepared, cfg, callbacks, initial_epoch=0,
        epochs=None, verbose=None):  # fmt: skip
    """`model.fit` on the prepared data, as train and tune both call it."""
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    return model.fit(
        prepared.train,
        validation_data=prepared.val,
        epochs=family.epochs(cfg) if epochs is None else epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=prepared.steps_per_epoch,
        callbacks=[*callbacks, *stopping(cfg, family.monitor)],
        verbose=verbose,
        shuffle=False,  # the pipelines shuffle
    )


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
    record = {
        "task": family.name,
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        **{key: getattr(args, key) for key in family.record_keys},
        "seed": args.seed,
        "precision": args.precision,
        "strategy": args.strategy,
        "distribution": args.distribution,
        "data_dir": args.data_dir and str(args.data_dir),
        "command": runs.command_line(),
    }
    keys = (*RECORD_KEYS, *family.record_keys)
    cluster = make_cluster(args, cfg)
    if cluster is not None:
        return train_cluster(family, args, run, record, keys, preset, cfg,
                             cluster)  # fmt: skip
    status = run.check(record, keys, args.extend, family.length)
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


def conclude(family, run, model, cfg, prepared, data, args, record, preset,
             state, training_state):  # fmt: skip
    """After training: the best weights, the family's measurements,
    metrics.json last."""
    train_seconds = training_state.train_seconds
    best = training_state.best_weights()
    if best is not None:
        model.load_weights(best)
    measured, line = family.finish(run, model, cfg, prepared, data, args)
    metrics, _ = results.record_results(
        run,
        model,
        record,
        train_seconds,
        state["epoch"],
        measured,
        title=family.title(preset, args),
    )
    print(line(metrics))
    return metrics


# What the chief tells the other processes before training.
STATUSES = ("new", "resume", "finished", "extend")
REFUSED = -1


def make_cluster(args, cfg):
    """The cluster of `--strategy multiworker` (TensorFlow) or
    `--distribution` (JAX), or `None` for one process."""
    if args.distribution and args.strategy != "default":
        raise UsageError(
            "--distribution is Keras' own (JAX); --strategy is "
            "TensorFlow's. Give one of them."
        )
    if args.distribution:
        from zoo import jax_cluster

        return jax_cluster.Cluster(args.distribution, cfg)
    if args.strategy == "multiworker":
        if args.cpu_replicas > 1:
            raise UsageError(
                "--cpu-replicas splits one machine's CPU for --strategy "
                "mirrored; --strategy multiworker trains one replica per "
                "worker."
            )
        from zoo import multiworker

        return multiworker.Cluster()
    return None


def train_cluster(family, args, run, record, keys, preset, cfg, cluster):
    """Training in several processes: each runs this. The chief checks
    the folder and writes the run; the others wait for its verdict, then
    read what it wrote (tokenizers, the checkpoint to resume from) and
    train alongside it. After training the chief alone measures and
    saves, on a copy of the model outside the distribution."""
    from zoo import checkpoints

    chief = cluster.chief
    status, data = "new", None
    try:
        if chief:
            status = run.check(record, keys, args.extend, family.length)
            if status != "finished":
                data = load_data(family, cfg, args)
                family.check_data(cfg, data)
                with run.starting(record, extend=status == "extend"):
                    print(f"Run directory: {run.path}\nPreset {preset}: {cfg}")
                    print(cluster.describe())
                    family.prepare(run.path, cfg, data, args.seed)
    except Exception:
        cluster.agree(REFUSED)
        raise
    code = cluster.agree(STATUSES.index(status))
    if code == REFUSED:
        raise UsageError("The chief (process 0) stopped; see its output.")
    if STATUSES[code] == "finished":
        if chief:
            return run.finished_metrics()
        print(f"{run.path} holds a finished run; nothing to train.")
        return None
    if not chief:
        if not run.config.is_file():
            raise UsageError(
                f"{run.config} does not exist here: the chief wrote it in "
                "its --out. Give every process the same --out, on a file "
                "system they all see."
            )
        print(cluster.describe())
        data = load_data(family, cfg, args)
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
        restore=lambda model: checkpoints.restore(run, model, tidy=chief),
        verbose=False,
        cluster=cluster,
    )
    callbacks = cluster.follower_callbacks()
    if chief:
        print(family.describe(model, cfg, prepared))
        callbacks = runs.training_callbacks(run, state, family.monitor)
    cluster.fit(
        model,
        prepared,
        epochs=family.epochs(cfg),
        initial_epoch=state["epoch"],
        callbacks=[*callbacks, *stopping(cfg, family.monitor)],
        verbose=(1 if sys.stdout.isatty() else 2) if chief else 0,
    )
    metrics = None
    weights = model.get_weights()  # every process: a collective on JAX
    if chief:
        # A copy outside the distribution: the others do not measure.
        cluster.local()
        single = family.build_model(cfg, prepared)
        family.compile_model(single, cfg, prepared.steps_per_epoch, False)
        single.optimizer.build(single.trainable_variables)
        single.set_weights(weights)
        metrics = conclude(family, run, single, cfg, prepared, data, args,
                           record, preset, state, callbacks[0])  # fmt: skip
    else:
        print("Training done; the chief (process 0) writes the results.")
    cluster.done()
    return metrics


def load_data(family, cfg, args):
    """`family.load_data(cfg, args)`, see `loaded`."""
    return loaded(family.load_data, cfg, args)


def loaded(load, *args, **kwargs):
    """`load(*args, **kwargs)` (a data loader), with missing or damaged
    data files as a `UsageError`."""
    from zoo import datasets

    try:
        return load(*args, **kwargs)
    except datasets.DatasetNotFoundError as e:
        raise UsageError(str(e)) from None
    except ValueError as e:  # a checksum, a language, a file format
        raise UsageError(str(e)) from None


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
    """`default` or `mirrored` (all GPUs, else all logical CPUs).
    `multiworker` is made by `zoo.multiworker.make_strategy`."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise UsageError(
        "`--strategy` must be 'default' or 'mirrored'. "
        f"Received: strategy={name!r}"
    )
