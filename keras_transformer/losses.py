"""Losses that ignore padding."""

import keras
from keras import ops

from keras_transformer import _backend
from keras_transformer.layers import _validation

__all__ = ["MaskedSparseCategoricalCrossentropy"]


@keras.saving.register_keras_serializable(package="keras_transformer")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Token-level cross-entropy averaged over real (non-padding) tokens.

    Positions whose label is `pad_id` get weight 0, and the mean divides by
    the number of real tokens, not by `batch * length`, so short and long
    batches weigh each token alike. With `label_smoothing = eps` the target
    is `(1 - eps) * one_hot + eps / vocab_size`.

    Labels must be in `[0, num_classes)` (the last axis of the
    predictions), apart from `pad_id`: in an eager call another label is a
    `ValueError`; in a compiled step it cannot be seen, and the models'
    `fit` checks the labels before Keras compiles it.

    Args:
        pad_id: int or `None`. Label id of padding. Defaults to `0`;
            `None` counts every label (for classification).
        label_smoothing: float in [0, 1). Defaults to `0.0`.
        from_logits: bool. Predictions are logits. Defaults to `True`.
        reduction: as for Keras losses; the default
            `"mean_with_sample_weight"` gives the mean over real tokens.
        name: str.

    Example:

    >>> import numpy as np
    >>> loss = MaskedSparseCategoricalCrossentropy()
    >>> labels = np.array([[1, 2, 0]])
    >>> logits = np.log(np.array([[[.1, .8, .1], [.1, .1, .8], [.8, .1, .1]]]))
    >>> round(float(loss(labels, logits)), 4)  # -log(0.8), padding ignored
    0.2231
    """

    def __init__(
        self,
        pad_id=0,
        label_smoothing=0.0,
        from_logits=True,
        reduction="mean_with_sample_weight",
        name="masked_sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pad_id = None if pad_id is None else int(pad_id)
        self.label_smoothing = _validation.check_rate(
            "label_smoothing", label_smoothing
        )
        self.from_logits = bool(from_logits)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = check_labels(y_true, y_pred, self.pad_id)
        if self.pad_id is None:
            weights = ops.ones(ops.shape(y_true), "float32")
        else:
            weights = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            while len(sample_weight.shape) < len(weights.shape):
                sample_weight = ops.expand_dims(sample_weight, -1)
            weights = weights * sample_weight
        return super().__call__(y_true, y_pred, sample_weight=weights)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            log_probs = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        labels = ops.cast(y_true, "int32")
        picked = ops.take_along_axis(log_probs, labels[..., None], axis=-1)
        nll = -ops.squeeze(picked, axis=-1)
        if self.label_smoothing == 0.0:
            return nll
        uniform = -ops.mean(log_probs, axis=-1)
        eps = self.label_smoothing
        return (1.0 - eps) * nll + eps * uniform

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "pad_id": self.pad_id,
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
        }


def check_labels(y_true, y_pred, pad_id):
    """Sparse labels `y_true` against the logits `y_pred`: shapes that
    agree (a trailing axis of 1 on `y_true` is dropped), and, when the
    values are known (eager), every label but `pad_id` in
    `[0, num_classes)`. In a compiled step the values are symbolic: the
    models' `fit` checks the labels before Keras compiles it."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    if len(y_true.shape) != len(y_pred.shape) - 1 or any(
        a is not None and b is not None and a != b
        for a, b in zip(y_true.shape, y_pred.shape[:-1], strict=False)
    ):
        raise ValueError(
            "`y_true` must hold one label per prediction: shape "
            f"{tuple(y_pred.shape[:-1])} for `y_pred` of shape "
            f"{tuple(y_pred.shape)}. Received: y_true.shape="
            f"{tuple(y_true.shape)}"
        )
    values = _backend.concrete(y_true)
    if values is not None and y_pred.shape[-1] is not None:
        _validation.check_values(
            "y_true",
            values,
            "labels",
            ("num_classes", int(y_pred.shape[-1])),
            ignore=pad_id,
        )
    return y_true, y_pred
