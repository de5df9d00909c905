"""Search spaces as plain dictionaries, declared on keras-tuner's
`HyperParameters` when a trial builds its model."""

import dataclasses
import itertools
import numbers


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric range to search: integers when `low` and `high` are both
    ints, floats otherwise.

    Args:
        low: smallest value.
        high: largest value.
        step: spacing of the values (ints default to 1; floats to a
            continuous range).
        log: sample evenly in log scale (learning rates).

    Example:

    >>> Range(0.0, 0.3, step=0.1)
    Range(low=0.0, high=0.3, step=0.1, log=False)
    >>> Range(1, 4).values()
    [1, 2, 3, 4]
    """

    low: float
    high: float
    step: float = None
    log: bool = False

    def __post_init__(self):
        if not self.low <= self.high:
            raise ValueError(
                "A Range needs low <= high. "
                f"Received: low={self.low}, high={self.high}"
            )
        if self.log and self.low <= 0:
            raise ValueError(
                f"A log Range needs low > 0. Received: low={self.low}"
            )

    @property
    def is_int(self):
        return isinstance(self.low, numbers.Integral) and isinstance(
            self.high, numbers.Integral
        )

    def values(self):
        """Every value of an integer range (for checks such as heads
        dividing the width); `None` for a continuous float range."""
        if not self.is_int:
            return None
        step = int(self.step or 1)
        if self.log:
            out, v = [], int(self.low)
            while v <= self.high:
                out.append(v)
                v *= max(step, 2)
            return out
        return list(range(int(self.low), int(self.high) + 1, step))


def declare(hp, name, spec):
    """Declares `name` on `hp` from `spec` and returns the trial's value:
    a `Range` becomes `hp.Int`/`hp.Float`, a list or tuple `hp.Choice`
    (the first value is the default), anything else `hp.Fixed`."""
    if isinstance(spec, Range):
        sampling = "log" if spec.log else "linear"
        if spec.is_int:
            return hp.Int(
                name,
                int(spec.low),
                int(spec.high),
                step=int(spec.step) if spec.step else None,
                sampling=sampling,
            )
        return hp.Float(
            name,
            float(spec.low),
            float(spec.high),
            step=spec.step,
            sampling=sampling,
        )
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(f"The choices for {name!r} are empty.")
        return hp.Choice(name, list(spec))
    return hp.Fixed(name, spec)


def candidates(spec):
    """The values `spec` can take, or `None` for a continuous range."""
    if isinstance(spec, Range):
        return spec.values()
    if isinstance(spec, (list, tuple)):
        return list(spec)
    return [spec]


def contains(spec, value):
    """Whether `spec` (a `Range`, a list of choices or a fixed value) can
    take `value`."""
    if isinstance(spec, Range):
        return spec.low <= value <= spec.high
    if isinstance(spec, (list, tuple)):
        return value in spec
    return value == spec


def is_fixed(spec):
    """Whether `spec` is a single value rather than something to search."""
    return not isinstance(spec, (Range, list, tuple))


def merge(defaults, overrides, family):
    """`defaults` updated with `overrides`; unknown names are an error
    listing the known ones."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(
            f"Unknown hyper-parameters for {family}: {unknown}. "
            f"Known: {sorted(defaults)}"
        )
    for name, spec in overrides.items():
        if isinstance(spec, (list, tuple)) and not spec:
            raise ValueError(f"The choices for {name!r} are empty.")
    space = dict(defaults)
    space.update(overrides)
    return space


def check_heads_divide(space):
    """Every `d_model` the space can pick must be divisible by every
    `num_heads` it can pick (each head gets `d_model / num_heads`)."""
    widths = candidates(space["d_model"])
    heads = candidates(space["num_heads"])
    if widths is None or heads is None:
        raise ValueError(
            "`d_model` and `num_heads` must be fixed values, lists or "
            "integer Ranges, so that every pair can be checked."
        )
    bad = [(d, h) for d, h in itertools.product(widths, heads) if d % h]
    if bad:
        raise ValueError(
            "Every num_heads in the search space must divide every d_model: "
            f"(d_model, num_heads) pairs that do not: {bad}. Narrow one of "
            "the two lists."
        )
