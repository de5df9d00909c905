"""The learning-rate schedule of "Attention Is All You Need", section 5.3."""

import keras
from keras import ops

from keras_transformer.layers import _validation


@keras.saving.register_keras_serializable(package="keras_transformer")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then decay with the inverse square root of the step.

    `lr(step) = scale * d_model^-0.5 * min(s^-0.5, s * warmup_steps^-1.5)`
    with `s = step + 1`, where `step` is the optimizer's iteration count, so
    the first update already has a non-zero rate. The two terms meet at
    `s = warmup_steps`, where the rate peaks at
    `scale * (d_model * warmup_steps)^-0.5`.

    Args:
        d_model: int. Model width; wider models take smaller steps.
        warmup_steps: int. Steps of linear warm-up. Defaults to `4000`.
        scale: float. Multiplies the whole curve. Defaults to `1.0`.

    Example:

    >>> schedule = WarmupSchedule(d_model=512, warmup_steps=4000)
    >>> round(float(schedule(3999)), 6)  # the peak, at s = 4000
    0.000699
    >>> optimizer = keras.optimizers.Adam(schedule, beta_2=0.98,
    ...                                   epsilon=1e-9)
    """

    def __init__(self, d_model, warmup_steps=4000, scale=1.0):
        super().__init__()
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.warmup_steps = _validation.check_positive_int(
            "warmup_steps", warmup_steps
        )
        if (
            isinstance(scale, bool)
            or not isinstance(scale, (int, float))
            or (scale <= 0)
        ):
            raise ValueError(
                f"`scale` must be a positive number. Received: scale={scale!r}"
            )
        self.scale = float(scale)

    def __call__(self, step):
        s = ops.cast(step, "float32") + 1.0
        decay = ops.rsqrt(s)
        warmup = s * (float(self.warmup_steps) ** -1.5)
        return self.scale * (self.d_model**-0.5) * ops.minimum(decay, warmup)

    def get_config(self):
        return {
            "d_model": self.d_model,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }
