"""Training on several machines with TensorFlow: `--strategy multiworker`.

Each worker runs the same `python -m zoo train ...` command with its own
`TF_CONFIG` (the cluster's addresses and the worker's index), and
`tf.distribute.MultiWorkerMirroredStrategy` keeps one copy of the model
per worker, summing the gradients of every step across them.

Keras 3's `model.fit` fails under this strategy (in Keras' own TensorFlow
trainer, for any model: keras-team/keras#20585), so `fit` here is a
training loop of our own around the model's `train_step` and `test_step`:
the same steps, metrics, callbacks and progress bar as `model.fit`, on
a `tf.data` pipeline distributed by data (each worker takes its share of
every global batch, so a step sees the batch one process would see).

Worker 0 is the chief (or the `chief` task when the cluster names one):
it alone writes the run directory. The others read it (the tokenizers
the chief learned, the checkpoint to resume from), so `--out` must be a
folder every worker sees: the same path on one machine, a shared file
system across machines. When a worker dies the others stop with an
error; started again, every worker resumes from the last saved epoch.
"""

import json
import os

from zoo.cli import UsageError


class WorkerLost(UsageError):
    """Another worker stopped mid-training: one message, not a traceback
    (`python -m zoo` exits with status 2)."""


def check_tf_config():
    """A `UsageError` saying what is wrong with `TF_CONFIG`, if anything,
    before TensorFlow reads it (and fails less clearly)."""
    text = os.environ.get("TF_CONFIG")
    example = (
        'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]},'
        ' "task": {"type": "worker", "index": 0}}\''
    )
    if not text:
        raise UsageError(
            "--strategy multiworker reads the cluster from the TF_CONFIG "
            f"environment variable, which is not set. For example: {example}"
        )
    try:
        config = json.loads(text)
    except ValueError as e:
        raise UsageError(f"TF_CONFIG is not valid JSON ({e}).") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UsageError(
            f"TF_CONFIG needs a 'cluster' and a 'task'. For example: {example}"
        )
    task_type, index = task.get("type"), task.get("index")
    members = cluster.get(task_type)
    if not isinstance(members, list) or not members:
        raise UsageError(
            f"TF_CONFIG's task type {task_type!r} is not one of its "
            f"cluster's: {sorted(cluster)}."
        )
    if not isinstance(index, int) or not 0 <= index < len(members):
        raise UsageError(
            f"TF_CONFIG's task index {index!r} is not in 0..{len(members) - 1}"
            f" (the cluster lists {len(members)} {task_type} addresses)."
        )
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise UsageError(
            f"TF_CONFIG's cluster names {unknown}; --strategy multiworker "
            "takes 'worker' addresses (and at most one 'chief')."
        )


class Cluster:
    """This worker's part in a `--strategy multiworker` run."""

    def __init__(self):
        check_tf_config()
        import tensorflow as tf

        # Made before TensorFlow runs any operation, as it must be.
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
        self.chief = bool(self.strategy.extended.should_checkpoint)
        resolver = self.strategy.cluster_resolver
        self.index = resolver.task_id
        self.processes = self.strategy.num_replicas_in_sync

    def describe(self):
        return (
            f"--strategy multiworker: {self.processes} replicas; this is "
            f"worker {self.index}" + (" (the chief)" if self.chief else "")
        )

    def agree(self, value):
        """The chief's `value` (an int) on every worker: a barrier that
        also tells the workers what the chief decided."""
        import tensorflow as tf

        strategy, mine = self.strategy, value if self.chief else 0

        def share():
            context = tf.distribute.get_replica_context()
            first = tf.cast(context.replica_id_in_sync_group == 0, tf.int64)
            return tf.constant(mine, tf.int64) * first

        @tf.function
        def gather():
            return strategy.reduce("SUM", strategy.run(share), axis=None)

        return int(gather().numpy())

    def adapt(self, prepared):
        """Nothing: `fit` distributes the pipelines."""

    def follower_callbacks(self):
        """Nothing to do beside the chief: each worker's copy of a weight
        is whole."""
        return []

    def fit(self, model, prepared, *, epochs, initial_epoch, callbacks,
            verbose):  # fmt: skip
        return fit(
            model,
            self.strategy,
            prepared.train,
            prepared.val,
            epochs=epochs,
            steps_per_epoch=prepared.steps_per_epoch,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )

    def local(self):
        """Nothing: a model built outside `strategy.scope()` is local."""

    def done(self):
        """Nothing: the workers have left; the chief measures alone."""


def distribute(strategy, dataset):
    """`dataset` split by data across the workers: every worker runs the
    whole pipeline and keeps its part of each global batch (not a file
    of its own), so a step trains on the batch of a single process."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return strategy.experimental_distribute_dataset(
        dataset.with_options(options)
    )


def build(model, dataset):
    """Builds the compiled `model`'s metrics, loss and optimizer state from
    the pipeline's element spec (not from a batch: drawing one would start
    the shuffle, and the first epoch would not see the first order)."""
    import tensorflow as tf

    def zeros(spec):
        shape = [1 if size is None else size for size in spec.shape]
        return tf.zeros(shape, spec.dtype)

    model._symbolic_build(data_batch=tf.nest.map_structure(zeros, dataset))


def fit(model, strategy, train, val, *, epochs, steps_per_epoch,
        initial_epoch=0, callbacks=(), verbose=1):  # fmt: skip
    """`model.fit(train, validation_data=val, ...)` under `strategy`, with
    the same epochs, steps, metrics and callbacks. `train` is iterated as
    `fit` does: one iterator across epochs, a new one when a finite
    pipeline runs out. Every worker calls it; give the callbacks that
    write files to the chief alone. Returns the `History`; a
    `WorkerLost` when another worker stops."""
    import keras
    import tensorflow as tf

    with strategy.scope():
        build(model, train.element_spec)
    loop = _Loop(model, strategy, train, val)
    callbacks = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
        model=model,
    )
    model.stop_training = False
    callbacks.on_train_begin()
    logs = {}
    try:
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            logs = loop.train_epoch(callbacks, steps_per_epoch)
            logs.update(loop.validate())
            callbacks.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    except (tf.errors.UnavailableError, tf.errors.AbortedError,
            tf.errors.DeadlineExceededError) as e:  # fmt: skip
        lines = [line.strip() for line in str(e).splitlines()]
        cause = next((line for line in lines if "task" in line), "")
        raise WorkerLost(
            f"A worker stopped during training ({type(e).__name__}: "
            f"{cause or lines[0]}). Start every "
            "worker again with the same command: training resumes after "
            "the last saved epoch."
        ) from None
    callbacks.on_train_end(logs)
    return callbacks._history


class _Loop:
    """The distributed steps of `fit`, and its place in the data."""

    def __init__(self, model, strategy, train, val):
        import tensorflow as tf

        self.model = model
        self.cardinality = int(train.cardinality())  # < 0: repeats
        self.train = distribute(strategy, train)
        self.val = distribute(strategy, val) if val is not None else None
        self.iterator, self.seen = None, 0

        @tf.function
        def train_step(iterator):
            strategy.run(model.train_step, args=(next(iterator),))
            return model.get_metrics_result()  # summed over the workers

        @tf.function
        def test_step(batch):
            strategy.run(model.test_step, args=(batch,))

        self.train_step, self.test_step = train_step, test_step

    def train_epoch(self, callbacks, steps):
        """`steps` training steps; the logs of the last one."""
        self.model.reset_metrics()
        logs = {}
        for step in range(steps):
            if self.iterator is None or 0 < self.cardinality <= self.seen:
                self.iterator, self.seen = iter(self.train), 0
            callbacks.on_train_batch_begin(step)
            logs = _floats(self.train_step(self.iterator))
            self.seen += 1
            callbacks.on_train_batch_end(step, logs)
        return logs

    def validate(self):
        """The `val_` metrics over the whole validation pipeline."""
        if self.val is None:
            return {}
        self.model.reset_metrics()
        for batch in self.val:
            self.test_step(batch)
        logs = _floats(self.model.get_metrics_result())
        return {f"val_{name}": value for name, value in logs.items()}


def _floats(logs):
    return {name: float(value) for name, value in logs.items()}
