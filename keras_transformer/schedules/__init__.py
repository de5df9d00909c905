"""Learning-rate schedules."""

from keras_transformer.schedules.warmup import WarmupSchedule

__all__ = ["WarmupSchedule"]
