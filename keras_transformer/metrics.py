"""Metrics that ignore padding."""

import keras
from keras import ops

from keras_transformer.losses import check_labels

__all__ = ["MaskedAccuracy", "Perplexity"]


class _MaskedMean(keras.metrics.Metric):
    """Running mean of a per-token value over the tokens that are not
    `pad_id` (and weighted by `sample_weight`). Labels are checked as by
    `MaskedSparseCategoricalCrossentropy`: outside `[0, num_classes)` (and
    not `pad_id`) is a `ValueError` when their values are known."""

    def __init__(self, pad_id=0, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.pad_id = None if pad_id is None else int(pad_id)
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = check_labels(y_true, y_pred, self.pad_id)
        values = self._per_token(y_true, ops.cast(y_pred, "float32"))
        if self.pad_id is None:
            weights = ops.ones_like(values)
        else:
            weights = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            while len(sample_weight.shape) < len(weights.shape):
                sample_weight = ops.expand_dims(sample_weight, -1)
            weights = weights * sample_weight
        self.total.assign_add(ops.sum(values * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="keras_transformer")
class MaskedAccuracy(_MaskedMean):
    """Share of real tokens whose arg-max prediction equals the label.

    Example:

    >>> import numpy as np
    >>> metric = MaskedAccuracy()
    >>> metric.update_state(np.array([[1, 2, 0]]),
    ...                     np.array([[[0, 5, 0], [5, 0, 0], [5, 0, 0]]]))
    >>> float(metric.result())  # 1 right of 2 real tokens
    0.5
    """

    def __init__(self, pad_id=0, name="masked_accuracy", dtype=None):
        super().__init__(pad_id=pad_id, name=name, dtype=dtype)

    def _per_token(self, y_true, y_pred):
        predicted = ops.argmax(y_pred, axis=-1)
        return ops.cast(
            ops.equal(predicted, ops.cast(y_true, predicted.dtype)), "float32"
        )


@keras.saving.register_keras_serializable(package="keras_transformer")
class Perplexity(_MaskedMean):
    """`exp` of the mean cross-entropy (in nats) over real tokens.

    Args:
        pad_id: int or `None`. Label id to ignore. Defaults to `0`.
        from_logits: bool. Predictions are logits. Defaults to `True`.

    Example:

    >>> import numpy as np
    >>> metric = Perplexity(pad_id=None)
    >>> metric.update_state(np.array([[0, 1]]), np.log(np.full((1, 2, 4), .25)))
    >>> round(float(metric.result()), 4)  # uniform over 4 tokens
    4.0
    """

    def __init__(
        self, pad_id=0, from_logits=True, name="perplexity", dtype=None
    ):
        super().__init__(pad_id=pad_id, name=name, dtype=dtype)
        self.from_logits = bool(from_logits)

    def _per_token(self, y_true, y_pred):
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            log_probs = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        labels = ops.cast(y_true, "int32")[..., None]
        return -ops.squeeze(ops.take_along_axis(log_probs, labels, -1), -1)

    def result(self):
        return ops.exp(super().result())

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
