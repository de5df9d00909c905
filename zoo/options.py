"""What a training run is given: `python -m zoo train TASK`'s options
(the family's and the shared ones) and the settings they resolve to (a
preset, `--hparams` on it, options on top, every value checked)."""

import argparse
import dataclasses

from zoo import cli
from zoo import runs
from zoo.cli import UsageError

# What `--help` shows for the arguments a default run directory names.
_PLACEHOLDERS = argparse.Namespace(dataset="DATASET", src="SRC", tgt="TGT")


def add_arguments(family, parser):
    """`python -m zoo train TASK`'s options: the family's, then the ones
    every family takes."""
    config = family.config
    parser.add_argument(
        "--dataset", required=True, choices=sorted(config.DEFAULT_PRESET)
    )
    family.add_arguments(parser)
    parser.add_argument(
        "--preset",
        choices=sorted(config.PRESETS),
        help="named configuration (default: the dataset's own)",
    )
    for flag, field, kind, text in family.options:
        parser.add_argument(flag, type=kind, dest=field, help=text)
    parser.add_argument(
        "--out",
        type=cli.OUT_DIR,
        help=f"run directory (default: {family.out_dir(_PLACEHOLDERS)})",
    )
    parser.add_argument(
        "--hparams",
        type=cli.json_object("best.json"),
        help="best.json of a `python -m zoo tune` search (or its folder): "
        "its settings on top of the search's preset (options given here "
        "still win)",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        help=f"train the finished (or killed) run in --out further, to the "
        f"--{family.length} given: it continues from its last saved epoch "
        "(weights and optimizer); the learning-rate schedule is that of a "
        "run of the new length. No other setting may change",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"],
        help="dtype policy; auto: mixed_bfloat16 without XLA on a CPU "
        "with bfloat16 instructions for d_model >= 256 (faster there), "
        "else float32 with XLA; a run resumed keeps its own",
    )
    parser.add_argument(
        "--strategy",
        default="default",
        choices=["default", "mirrored", "multiworker"],
        help="TensorFlow: mirrored trains on every GPU (or --cpu-replicas) "
        "of this machine; multiworker on the machines of TF_CONFIG, each "
        "running this command (docs/guides/scaling-out.md)",
    )
    parser.add_argument(
        "--distribution",
        choices=["data-parallel", "model-parallel"],
        help="JAX (KERAS_BACKEND=jax): keras.distribution across this "
        "process's devices, or the processes of KERAS_DISTRIBUTION_* "
        "(docs/guides/scaling-out.md)",
    )
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)
    add_data_arguments(parser)
    parser.add_argument(
        "--cpu-replicas",
        type=cli.POSITIVE,
        default=1,
        help="split the CPU into this many devices for --strategy mirrored",
    )
    return parser


def add_language_arguments(parser):
    """`--src` and `--tgt` (translation): train and tune."""
    from zoo import datasets

    for flag, default, text in (
        ("--src", "de", "source language (translation)"),
        ("--tgt", "en", "target language (translation)"),
    ):
        languages = datasets.MULTI30K_LANGUAGES
        parser.add_argument(flag, default=default, choices=languages, help=text)


def add_data_arguments(parser):
    """`--data-dir`, `--steps-per-epoch` and `--no-jit`: train and tune."""
    parser.add_argument(
        "--data-dir",
        type=cli.DATA_DIR,
        help="local data folder (else $KERAS_TRANSFORMER_DATA)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=cli.POSITIVE,
        help="limit each epoch to this many batches (quick checks)",
    )
    parser.add_argument(
        "--no-jit", action="store_true", help="compile without XLA"
    )


def resolve(family, dataset, preset=None, **overrides):
    """`(name, config)`: the preset for `dataset` (its default, or the
    named one) with `overrides` (`None` values ignored) applied."""
    presets, defaults = family.config.PRESETS, family.config.DEFAULT_PRESET
    if preset is None and dataset not in defaults:
        raise UsageError(
            f"Unknown --dataset. Expected one of {sorted(defaults)}. "
            f"Received: dataset={dataset!r}"
        )
    name = preset or defaults[dataset]
    if name not in presets:
        raise UsageError(
            f"Unknown --preset. Expected one of {sorted(presets)}. "
            f"Received: preset={name!r}"
        )
    config = presets[name]
    if config.dataset != dataset:
        raise UsageError(
            f"--preset {name!r} is for --dataset {config.dataset!r}, not "
            f"{dataset!r}."
        )
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise UsageError(  # only --hparams can name a setting
            f"--hparams sets {unknown[0]!r}, which a "
            f"{type(config).__name__} does not have. Its settings: "
            f"{sorted(fields)}"
        )
    changes = {k: v for k, v in overrides.items() if v is not None}
    return name, dataclasses.replace(config, **changes)


def hparams_preset(args, task):
    """`(preset, overrides)`: the preset and settings of `--hparams` (a
    search's best.json, checked to belong to `task` on `args.dataset`),
    or `(args.preset, {})` without it."""
    if not args.hparams:
        return args.preset, {}
    path, best = args.hparams
    if (best.get("task"), best.get("dataset")) != (task, args.dataset):
        raise UsageError(
            f"--hparams {path} is from a {best.get('task')!r} search on "
            f"{best.get('dataset')!r}, not {task!r} on {args.dataset!r}."
        )
    for key in ("src", "tgt"):  # translation: the same language pair
        if key in best and best[key] != getattr(args, key, best[key]):
            raise UsageError(
                f"--hparams {path} is from a search on {best['src']}->"
                f"{best['tgt']}, not {args.src}->{args.tgt}."
            )
    config = best.get("config")
    if not isinstance(config, dict) or not isinstance(best.get("preset"), str):
        raise UsageError(
            f"--hparams {path} is not the best.json of a `python -m zoo "
            "tune` search (no 'config' or 'preset')."
        )
    print(f"Settings from {path}: {config}")
    return args.preset or best["preset"], config


def settings(family, args):
    """`(preset, config)` from the arguments: the preset, `--hparams` on
    it, the options given on top; every value checked."""
    preset, tuned = hparams_preset(args, family.name)
    given = {field: getattr(args, field) for _, field, _, _ in family.options}
    given = {k: v for k, v in given.items() if v is not None}
    preset, cfg = resolve(family, args.dataset, preset, **{**tuned, **given})
    source = f"--hparams {args.hparams[0]}" if args.hparams else "the preset"
    runs.check_settings(cfg, tuned, source)
    family.check_config(cfg, source)
    return preset, cfg
