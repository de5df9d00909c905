"""Training in several processes, for `python -m zoo train`: the
TensorFlow workers of `--strategy multiworker` (`zoo.multiworker`) and
the JAX processes of `--distribution` (`zoo.jax_cluster`). Both give a
cluster with the same few methods, and `train` runs every process
through the same steps: the chief decides and writes, the others
follow."""

import sys

from zoo import runs
from zoo import skeleton
from zoo.cli import UsageError

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


def train(family, args, run, record, keys, preset, cfg, cluster):
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
            status = run.check(record, keys, args.extend, family.length,
                               runs.added_fields(cfg))  # fmt: skip
            if status != "finished":
                data = skeleton.load_data(family, cfg, args)
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
        data = skeleton.load_data(family, cfg, args)
    model, prepared, state = skeleton.start(
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
        callbacks=[*callbacks, *skeleton.stopping(cfg, family.monitor)],
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
        metrics = skeleton.conclude(
            family, run, single, cfg, prepared, data, args, record, preset,
            state, callbacks[0],
        )  # fmt: skip
    else:
        print("Training done; the chief (process 0) writes the results.")
    cluster.done()
    return metrics
