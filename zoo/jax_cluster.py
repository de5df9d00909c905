"""Training with Keras' own distribution on JAX: `--distribution
data-parallel` or `model-parallel` (`KERAS_BACKEND=jax`).

On one machine the mesh is this process's devices (its GPUs, or the CPU
split with `XLA_FLAGS=--xla_force_host_platform_device_count=N`). Across
machines every process runs the same command with

    KERAS_DISTRIBUTION_JOB_ADDRESSES   the coordinator's host:port (process 0)
    KERAS_DISTRIBUTION_NUM_PROCESSES   how many processes
    KERAS_DISTRIBUTION_PROCESS_ID      this one's index, 0 .. N-1

and `keras.distribution.initialize` joins them into one mesh of every
process's devices.

- data-parallel: the weights are replicated on every device and each
  device takes a slice of every batch.
- model-parallel: the attention heads and feed-forward units are split
  across the devices (`keras_transformer.distribution.layout_map`), and
  every device sees the whole batch. Within one process.

The pipelines stay those of one process: each batch is cut into the
process's rows here (not by Keras' own sharding, which cuts a final
partial batch unevenly and leaves one process waiting for the other),
padded where it does not split evenly with rows of weight 0, which the
losses and metrics ignore. Process 0 is the chief: it alone writes the
run directory, so `--out` must be a folder every process sees.
"""

import os

from zoo.cli import UsageError

KINDS = ("data-parallel", "model-parallel")
ENVIRONMENT = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


def processes_from_environment():
    """`(count, index)` from the `KERAS_DISTRIBUTION_*` variables, or
    `None` when none is set (one process); a `UsageError` when some are
    missing or wrong."""
    given = {name: os.environ.get(name) for name in ENVIRONMENT}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise UsageError(
            f"Several processes need all three of {', '.join(ENVIRONMENT)}; "
            f"{', '.join(missing)} is not set."
        )
    try:
        count = int(given["KERAS_DISTRIBUTION_NUM_PROCESSES"])
        index = int(given["KERAS_DISTRIBUTION_PROCESS_ID"])
    except ValueError:
        raise UsageError(
            "KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_"
            "PROCESS_ID must be integers."
        ) from None
    if count < 1 or not 0 <= index < count:
        raise UsageError(
            f"KERAS_DISTRIBUTION_PROCESS_ID={index} is not in 0..{count - 1} "
            f"(KERAS_DISTRIBUTION_NUM_PROCESSES={count})."
        )
    if ":" not in given["KERAS_DISTRIBUTION_JOB_ADDRESSES"]:
        raise UsageError(
            "KERAS_DISTRIBUTION_JOB_ADDRESSES must give the coordinator as "
            "host:port (process 0's)."
        )
    return count, index


class Cluster:
    """This process's part in a `keras.distribution` run."""

    def __init__(self, kind, cfg):
        import keras

        if keras.backend.backend() != "jax":
            raise UsageError(
                f"--distribution {kind} runs on JAX (KERAS_BACKEND=jax); "
                f"the backend is {keras.backend.backend()}. On TensorFlow, "
                "use --strategy mirrored or multiworker."
            )
        if kind not in KINDS:
            raise UsageError(f"--distribution must be one of {KINDS}.")
        processes = processes_from_environment()
        if processes and processes[0] > 1 and kind == "model-parallel":
            raise UsageError(
                "--distribution model-parallel splits the model across one "
                "process's devices; across processes, use data-parallel."
            )
        if processes:
            keras.distribution.initialize()
        import jax

        self.kind = kind
        self.processes = jax.process_count()
        self.index = jax.process_index()
        self.chief = self.index == 0
        devices = keras.distribution.list_devices()
        if kind == "data-parallel":
            self.data_shards = len(devices)
            self.distribution = keras.distribution.DataParallel(
                devices=devices, auto_shard_dataset=False
            )
        else:
            from keras_transformer.distribution import check_divisible
            from keras_transformer.distribution import layout_map

            try:
                check_divisible(cfg.num_heads, cfg.d_ff, len(devices))
            except ValueError as e:
                raise UsageError(str(e)) from None
            mesh = keras.distribution.DeviceMesh(
                (1, len(devices)), ("batch", "model"), devices
            )
            self.data_shards = 1
            self.distribution = keras.distribution.ModelParallel(
                layout_map=layout_map(mesh),
                batch_dim_name="batch",
                auto_shard_dataset=False,
            )
        keras.distribution.set_distribution(self.distribution)
        self.devices = len(devices)

    def describe(self):
        return (
            f"--distribution {self.kind}: {self.devices} devices in "
            f"{self.processes} process(es); this is process {self.index}"
        )

    def agree(self, value):
        """The chief's `value` (an int) on every process; a barrier."""
        if self.processes == 1:
            return value
        import numpy as np
        from jax.experimental import multihost_utils

        shared = multihost_utils.broadcast_one_to_all(np.int32(value))
        return int(shared)

    def adapt(self, prepared):
        """Cuts the training and validation pipelines into this process's
        rows of every batch."""
        prepared.train = self.rows(prepared.train)
        if prepared.val is not None:
            prepared.val = self.rows(prepared.val)

    def rows(self, dataset):
        """Each batch of `dataset` as `(x, y, weights)`: padded with rows
        of weight 0 to a multiple of the data shards, then this process's
        contiguous share (data-parallel) or all of it (model-parallel)."""
        import tensorflow as tf

        shards = self.data_shards
        parts = self.processes if self.kind == "data-parallel" else 1
        index = self.index if parts > 1 else 0

        def cut(*batch):
            x, y = batch[0], batch[1]
            size = tf.shape(tf.nest.flatten(y)[0])[0]
            weights = batch[2] if len(batch) > 2 else tf.ones([size])
            padded = (size + shards - 1) // shards * shards
            share = padded // parts

            def take(t):
                pad = [[0, padded - size]] + [[0, 0]] * (len(t.shape) - 1)
                return tf.pad(t, pad)[index * share : (index + 1) * share]

            return tf.nest.map_structure(take, (x, y, weights))

        return dataset.map(cut, num_parallel_calls=tf.data.AUTOTUNE)

    def follower_callbacks(self):
        """What the processes other than the chief run while it saves:
        reading a weight spread over several processes takes all of
        them, so they save alongside it, to a file they then delete."""
        return [_saves_alongside()] if self.processes > 1 else []

    def fit(self, model, prepared, *, epochs, initial_epoch, callbacks,
            verbose):  # fmt: skip
        return model.fit(
            prepared.train,
            validation_data=prepared.val,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=prepared.steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )

    def local(self):
        """Leaves the distribution: what is built next lives on this
        process's own device (the chief's copy for measuring)."""
        import keras

        keras.distribution.set_distribution(None)

    def done(self):
        """Every process waits here for the chief's measurements, so that
        none leaves the cluster early."""
        if self.processes > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("zoo: the chief finished")


def _saves_alongside():
    import tempfile

    import keras

    class SavesAlongside(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            with tempfile.TemporaryDirectory() as folder:
                self.model.save_weights(f"{folder}/discarded.weights.h5")

    return SavesAlongside()
