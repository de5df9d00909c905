"""Adam and AdamW that clip the gradient of the whole batch under a
`tf.distribute` strategy.

Keras 3's optimizers clip (`clipnorm`, `global_clipnorm`, `clipvalue`)
inside each replica, before the replicas' gradients are summed. With two
replicas that clips two half-batch gradients and adds them, which is not
the clipped gradient of the batch: the same seed on one device and on a
`MirroredStrategy` then trains different models (1% apart in loss after
six steps of a small ViT clipped at norm 1 as its recipe does; far more
at the tighter thresholds of `tests/test_optimizers.py`).

These subclasses sum the replicas' gradients first, clip the sum, and
hand each replica its share, so that Keras' own summation afterwards
rebuilds exactly the clipped gradient of the batch. Without a strategy,
and on JAX and PyTorch (whose distribution sees whole-batch gradients),
they are Keras' optimizers unchanged.
"""

import keras

__all__ = ["Adam", "AdamW"]


def _replica_context():
    """The current `tf.distribute` replica context when it has more than
    one replica, else `None`."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync < 2:
        return None
    return context


class _ClipsWholeBatch:
    """Clips the replicas' summed gradient, not each replica's own."""

    def _clip_gradients(self, grads):
        clips = self.clipnorm or self.global_clipnorm or self.clipvalue
        context = _replica_context() if clips else None
        if context is None:
            return super()._clip_gradients(grads)
        import tensorflow as tf

        present = [i for i, g in enumerate(grads) if g is not None]
        # Dense: an embedding's rows (`IndexedSlices`) summed across
        # replicas keep their repeated rows apart, and the clipped sum
        # then differs from that of one device by more than rounding.
        summed = context.all_reduce(
            tf.distribute.ReduceOp.SUM,
            [tf.convert_to_tensor(grads[i]) for i in present],
        )
        clipped = super()._clip_gradients(summed)
        # The optimizer sums the replicas' gradients once more before the
        # update: each replica contributes an equal share of the clipped sum.
        share = 1.0 / context.num_replicas_in_sync
        grads = list(grads)
        for i, g in zip(present, clipped, strict=True):
            grads[i] = g * share
        return grads


@keras.saving.register_keras_serializable(package="keras_transformer")
class Adam(_ClipsWholeBatch, keras.optimizers.Adam):
    """`keras.optimizers.Adam`, clipping the whole batch's gradient under a
    `tf.distribute` strategy (see the module docstring)."""


@keras.saving.register_keras_serializable(package="keras_transformer")
class AdamW(_ClipsWholeBatch, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW`, clipping the whole batch's gradient under
    a `tf.distribute` strategy (see the module docstring)."""
