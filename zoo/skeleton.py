"""The steps of a training run that a run, a search trial, a fine-tuning
and a run in several processes share: `start` (seed, dtype policy,
pipelines, strategy, model, compile, restore), `fit`, and `conclude`
(best weights, the family's measurements, metrics.json). `zoo.recipe`
strings them together and re-exports them."""

import sys

from zoo import results
from zoo.cli import UsageError


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
