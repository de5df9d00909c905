"""A search's space and objective: the library HyperModel's default
space named by the family's config fields, the zoo's space per dataset,
`--space` on top, every value checked; and the objective with its
direction."""

import dataclasses

from zoo import cli
from zoo import runs

# The direction of each metric a family logs (`val_` prefixes too).
DIRECTIONS = {
    "loss": "min",
    "cross_entropy": "min",
    "perplexity": "min",
    "accuracy": "max",
}

# Search spaces per (task, dataset) where the library's default (sized
# for mid-sized data) does not fit; the rest of the default space, and
# the preset's other settings, apply as they are.
ZOO_SPACES = {
    ("vit", "digits"): {
        "num_layers": [1, 2, 3, 4],
        "d_model": [32, 64, 128],
        "num_heads": [2, 4],
        "d_ff_multiple": [2, 4],
        "dropout_rate": [0.0, 0.1, 0.2],
        "learning_rate": {"low": 3e-4, "high": 1e-2, "log": True},
        "label_smoothing": [0.0, 0.1],
    },
    ("gpt", "shakespeare"): {
        "num_layers": [2, 4, 6],
        "d_model": [64, 128, 192],
        "num_heads": [2, 4],
        "d_ff_multiple": 4,
        "dropout_rate": [0.0, 0.1],
        "learning_rate": {"low": 5e-4, "high": 3e-3, "log": True},
    },
}


def objective_from(text, default):
    """A `keras_tuner.Objective` from `--objective` (`NAME` of a metric
    whose direction is known, or `NAME:min`/`NAME:max`), else `default`."""
    import keras_tuner

    if not text:
        return default
    name, _, direction = text.partition(":")
    if not direction:
        base = name.removeprefix("val_")
        direction = DIRECTIONS.get(base)
        if direction is None:
            raise cli.UsageError(
                f"--objective {name}: its direction is unknown. Give "
                f"{name}:min or {name}:max."
            )
    if direction not in ("min", "max") or not name:
        raise cli.UsageError(
            f"--objective {text}: give NAME, NAME:min or NAME:max."
        )
    return keras_tuner.Objective(name, direction)


def space_from_json(space, source="--space"):
    """JSON-able search space -> HyperModel `search_space` (dicts with
    `low`/`high` become `Range`s); a `UsageError` naming `source` for a
    range the library refuses."""
    from keras_transformer.tuning import Range

    out = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            unknown = set(spec) - {"low", "high", "step", "log"}
            if unknown or not {"low", "high"} <= set(spec):
                raise cli.UsageError(
                    f"{source}: a range for {name!r} takes low, high and "
                    f"optionally step and log. Received: {spec}"
                )
            try:
                out[name] = Range(**spec)
            except (TypeError, ValueError) as e:
                raise cli.UsageError(f"{source}: {name}: {e}") from None
        else:
            out[name] = spec
    return out


def build_space(family, cfg, space_file, source):
    """The search space, named by config fields (and `d_ff_multiple`):
    the library HyperModel's default entries that the config has (fixed
    ones at the preset's values), the zoo's space for the dataset, then
    `space_file`. Every value it can take is checked."""
    import keras_transformer.tuning as tuning
    from keras_transformer.tuning import space as space_lib

    names = {f.name for f in dataclasses.fields(cfg)} | {"d_ff_multiple"}
    names -= {"dataset", family.length, "d_ff", *family.fixed_in_search}
    preset = family.values_of(cfg)
    default = getattr(tuning, family.hypermodel).SEARCH_SPACE
    space = {
        name: preset[name] if space_lib.is_fixed(spec) else spec
        for name, spec in default.items()
        if name in names
    }
    space.update(
        space_from_json(ZOO_SPACES.get((family.name, cfg.dataset), {}))
    )
    unknown = sorted(set(space_file) - names)
    if unknown:
        raise cli.UsageError(
            f"{source} names {unknown}, which the search cannot set. It can "
            f"set: {sorted(names)}"
        )
    space.update(space_from_json(space_file, source))
    try:
        space_lib.check_heads_divide(space)
        for name, spec in space.items():
            if isinstance(spec, (list, tuple)) and not spec:
                raise ValueError(f"The choices for {name!r} are empty.")
    except ValueError as e:
        raise cli.UsageError(f"{source}: {e}") from None
    for changes, trial in candidate_configs(family, cfg, space):
        runs.check_settings(trial, changes, source)
        family.check_config(trial, source)
    return space


def candidate_configs(family, cfg, space):
    """`(changes, config)` for each value the space can give one name,
    the others at their first value: what the checks try."""
    base = dataclasses.replace(
        cfg,
        **family.config_changes(cfg, {n: first(s) for n, s in space.items()}),
    )
    for name, spec in space.items():
        for value in candidates(spec):
            changes = family.config_changes(base, {name: value})
            yield changes, dataclasses.replace(base, **changes)


def candidates(spec):
    """The values of `spec` to check: every one, or a range's ends."""
    from keras_transformer.tuning import space as space_lib

    values = space_lib.candidates(spec)
    return values if values is not None else [spec.low, spec.high]


def first(spec):
    return candidates(spec)[0]
