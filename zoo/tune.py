"""Search a recipe's hyper-parameters with keras-tuner.

    python -m zoo tune vit --dataset digits --tuner random --max-trials 12 \\
        --epochs-per-trial 40 --out runs/tune-vit-digits
    python -m zoo train vit --dataset digits \\
        --hparams runs/tune-vit-digits/best.json

Each trial is a training run of the family's recipe (`zoo.recipe`, the
steps `python -m zoo train` takes) with the trial's settings on the
preset, trained for a trial's budget in its own process (`zoo.trial`).
Reads top to bottom: arguments, the search space (the library
HyperModel's, the zoo's per dataset, `--space`; the preset's values as
the baseline), the preset trained once as the baseline (`zoo.tuner`),
the search (one line per trial; results kept on disk, so a killed search
resumes where it stopped), then the summary files. The output folder
holds:

    tune.json          the settings and command (checked on resume)
    search/            keras-tuner's trials (resume state)
    baseline.json      the preset's own score with the same budget
    summary.csv, summary.md, trials.png
    best.json          the best trial: settings, score, seed, budget and
                       the `train` command that replays it
    trials.log         the trials started, one line each

With keras-tuner's environment variables set, the same command is the
chief or a worker of a distributed search (`zoo.search_cluster`): the
chief does all of the above but the trials, which the workers take from
it (each logs them in trials.TUNER_ID.log).
"""

import dataclasses
import math
import pathlib
import sys

from zoo import cli
from zoo import files
from zoo import options
from zoo import recipe
from zoo import runs
from zoo import search_cluster
from zoo import search_report
from zoo import search_space
from zoo import tasks

TUNERS = ("random", "bayesian", "hyperband")
RESUME_KEYS = (
    "executions_per_trial",
    "objective",
    "task",
    "dataset",
    "preset",
    "tuner",
    "epochs_per_trial",
    "steps_per_epoch",
    "jit_compile",
    "seed",
    "space",
    "src",
    "tgt",
)


def add_arguments(parser):
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--preset", help="the baseline and fixed settings")
    parser.add_argument("--tuner", default="random", choices=TUNERS)
    parser.add_argument(
        "--max-trials",
        type=cli.POSITIVE,
        default=10,
        help="trials in all (also caps hyperband's own schedule)",
    )
    parser.add_argument(
        "--epochs-per-trial",
        type=cli.POSITIVE,
        default=5,
        help="epochs per trial (hyperband: the most any trial gets)",
    )
    parser.add_argument(
        "--executions-per-trial",
        type=cli.POSITIVE,
        default=1,
        help="train each trial this many times, with seeds seed, seed+1, "
        "...: another initialization, batch order and (vit) validation "
        "split each time; the objective is their mean",
    )
    parser.add_argument(
        "--objective",
        help="metric to search by (default: the family's own, e.g. "
        "val_cross_entropy for vit): NAME (losses, cross-entropy and "
        "perplexity are minimized, accuracy maximized) or NAME:min / "
        "NAME:max",
    )
    parser.add_argument(
        "--space",
        type=cli.json_object(),
        help="JSON file of search-space overrides: name -> value, list of "
        'choices, or {"low": L, "high": H, "step": S, "log": true}',
    )
    parser.add_argument(
        "--out", type=cli.OUT_DIR, help="default: runs/tune-TASK-DATASET"
    )
    options.add_language_arguments(parser)
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)
    parser.add_argument(
        "--chief-timeout",
        type=cli.number(0.0, low_open=True),
        default=3600.0,
        metavar="SECONDS",
        help="a worker of a distributed search (KERASTUNER_TUNER_ID, "
        "KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT) waits this long for "
        "the chief, which serves once it has trained the baseline "
        "(default: an hour)",
    )
    options.add_data_arguments(parser)
    return parser


# ---------------------------------------------------------------- search


@dataclasses.dataclass
class Search:
    """What every trial of a search shares: the family, the preset config,
    the space, the objective, the seed, the budget and the data settings."""

    family: object
    preset: str
    cfg: object
    space: dict
    objective: object
    args: object
    out: pathlib.Path

    @property
    def seed(self):
        return self.args.seed

    @property
    def epochs(self):
        return self.args.epochs_per_trial

    @property
    def executions(self):
        return self.args.executions_per_trial

    def hyperparameters(self):
        """The space declared on a `keras_tuner.HyperParameters`."""
        import keras_tuner

        from keras_transformer.tuning import space as space_lib

        hp = keras_tuner.HyperParameters()
        for name, spec in self.space.items():
            space_lib.declare(hp, name, spec)
        return hp

    def preset_values(self):
        values = self.family.values_of(self.cfg)
        return {name: values[name] for name in self.space}

    def config_changes(self, values):
        return self.family.config_changes(self.cfg, values)

    def trial_config(self, values, epochs=None):
        """The preset with the trial's `values`, for a trial's budget
        (`epochs`: hyperband's for this trial, else `--epochs-per-trial`),
        so that its schedule is that of a run of that length."""
        epochs = epochs or self.epochs
        length = epochs * self.family.steps_per_length(self.cfg)
        changes = {**self.config_changes(values), self.family.length: length}
        return dataclasses.replace(self.cfg, **changes)

    def request(self, values, execution, result, **fit):
        """What `zoo.trial` needs to train one execution of a trial."""
        args = self.args
        return {
            "task": self.family.name,
            "preset": self.preset,
            "config": dataclasses.asdict(
                self.trial_config(values, fit.get("epochs"))
            ),
            "data": {
                "data_dir": args.data_dir and str(args.data_dir),
                "seed": args.seed + execution,
                "src": args.src,
                "tgt": args.tgt,
            },
            "folder": str(self.out),  # tokenizers, shared by the trials
            "jit_compile": not args.no_jit,
            "steps_per_epoch": args.steps_per_epoch,
            # epochs, initial_epoch, load_weights, save_weights (hyperband)
            **fit,
            "objective": self.objective.name,
            "direction": self.objective.direction,
            "result": str(result),
        }

    def budget(self, row):
        """The budget a trial (a summary row) trained with."""
        epochs = row.get("tuner/epochs") or self.epochs
        return {
            "epochs": epochs,
            self.family.length: epochs * self.family.steps_per_length(self.cfg),
            "steps_per_epoch": self.args.steps_per_epoch,
            "jit_compile": not self.args.no_jit,
            # Hyperband's later rounds continue from an earlier trial's
            # weights: a fresh training run does not replay those.
            "continues_trial": row.get("tuner/trial_id"),
        }

    def train_command(self, best_json):
        """`python -m zoo train` with the search's best.json (the preset's
        full length)."""
        args = self.args
        words = [
            "python -m zoo train", self.family.name, "--dataset",
            args.dataset, "--hparams", str(best_json),
        ]  # fmt: skip
        if self.family.name == "translation":
            words += ["--src", args.src, "--tgt", args.tgt]
        return words

    def replay_command(self, best_json, budget):
        """The `train` command that trains the best trial's run again: its
        first execution's seed, and its budget."""
        args = self.args
        words = self.train_command(best_json) + [
            "--seed", str(args.seed),
            f"--{self.family.length.replace('_', '-')}",
            str(budget[self.family.length]),
        ]  # fmt: skip
        if args.steps_per_epoch:
            words += ["--steps-per-epoch", str(args.steps_per_epoch)]
        if args.no_jit:
            words.append("--no-jit")
        if args.data_dir:
            words += ["--data-dir", str(args.data_dir)]
        return " ".join(words)


# ---------------------------------------------------------------- main


def check_out(out, record, role):
    """Before anything is written: `out` must be a new or empty folder, or
    one that holds this search (killed, or finished). A worker's may also
    hold its own files of this search, or be the chief's (`work`)."""
    if (out / "config.json").is_file():
        raise cli.UsageError(
            f"--out {out} holds a training run, not a search. Give another "
            "--out."
        )
    if role.is_worker:
        return
    if not (out / "tune.json").is_file():
        if out.is_dir() and any(out.iterdir()):
            raise cli.UsageError(
                f"--out {out} is not empty and holds no search (no "
                "tune.json). Give a new or empty folder."
            )
        return
    runs.check_record(out / "tune.json", record, RESUME_KEYS, "a search")


def check_data(search):
    """The data loads (a clear error when it is missing) and every trial
    the space can give fits it (a batch larger than the data)."""
    family, cfg = search.family, search.cfg
    data = recipe.load_data(family, cfg, search.args)
    for _, trial in search_space.candidate_configs(family, cfg, search.space):
        family.check_data(trial, data)


def main(argv=None):
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    parser = add_arguments(
        cli.ArgumentParser(
            prog="python -m zoo tune TASK",
            description=__doc__.splitlines()[0],
        )
    )
    tunable = [t for t in tasks.TASKS if tasks.family(t).hypermodel]
    if not argv or argv[0] not in tunable:
        parser.error(
            f"the first argument must be a task with a search space: "
            f"{', '.join(tunable)}"
        )
    task, args = argv[0], parser.parse_args(argv[1:])
    family = tasks.family(task)
    family.check_args(args, parser)
    role = search_cluster.role_from_env()

    # Every check before the first write: arguments, space, folder.
    preset, cfg = options.resolve(family, args.dataset, args.preset)
    import keras_transformer.tuning as tuning

    default_objective = getattr(tuning, family.hypermodel).OBJECTIVE
    objective = search_space.objective_from(args.objective, default_objective)
    space_path, space_file = args.space or (None, {})
    space = search_space.build_space(
        family, cfg, space_file, f"--space {space_path}"
    )
    out = pathlib.Path(args.out or f"runs/tune-{task}-{args.dataset}")
    record = {
        "task": task,
        "dataset": args.dataset,
        "preset": preset,
        "tuner": args.tuner,
        "objective": args.objective,
        "executions_per_trial": args.executions_per_trial,
        "max_trials": args.max_trials,
        "epochs_per_trial": args.epochs_per_trial,
        "steps_per_epoch": args.steps_per_epoch,
        "jit_compile": not args.no_jit,
        "seed": args.seed,
        "space": {
            **search_space.ZOO_SPACES.get((task, args.dataset), {}),
            **space_file,
        },
        "src": args.src,
        "tgt": args.tgt,
        "command": runs.command_line(),
    }
    check_out(out, record, role)
    search = Search(family, preset, cfg, space, objective, args, out)
    if role.is_worker:  # no baseline, no summary: the chief's
        check_data(search)
        search_cluster.wait_for_chief(role, args.chief_timeout)
        search_cluster.check_same_search(
            role, record, out / "tune.json", RESUME_KEYS
        )
        return search_cluster.work(search, role)
    if role.is_chief:
        search_cluster.check_can_serve(role)

    from keras_transformer.tuning import space as space_lib
    from zoo import tuner as tuner_lib

    # A start that fails (no data, an objective the baseline's trials do
    # not log) leaves the folder as it was found.
    with files.undo_on_failure(out, ("tune.json",)):
        out.mkdir(parents=True, exist_ok=True)
        runs.write_record(out / "tune.json", record, RESUME_KEYS, "a search")
        check_data(search)
        baseline = tuner_lib.run_baseline(search)

    first_values = search.preset_values()
    if args.tuner != "hyperband" and not all(
        space_lib.contains(spec, first_values[name])
        for name, spec in space.items()
    ):
        print("The preset is outside the search space: not tried first.")
        first_values = None
    oracle = tuner_lib.make_oracle(
        args.tuner, search, first_values, args.max_trials
    )
    tuner = tuner_lib.ZooTuner(oracle, search, role)
    limit = args.steps_per_epoch
    print(
        f"Search space: {space}\n{args.tuner} search, {args.max_trials} "
        f"trials of {args.epochs_per_trial} epochs"
        + (f" (at most {limit} steps each)" if limit else "")
        + f"; objective {objective.name} ({objective.direction})"
    )
    if role.is_chief:
        print(
            f"Serving the search at {role.address}: start the workers with "
            f"the same command and {search_cluster.TUNER_ID}=tuner0, "
            "tuner1, ...",
            flush=True,
        )
        oracle.serving = True
    tuner.search(verbose=0)  # the trial lines are ours
    if oracle.failure is not None:  # the chief stopped the workers
        raise oracle.failure
    rows = search_report.trial_rows(oracle)
    search_report.write_summary(rows, baseline, objective, record, out)
    best = search_report.write_best(rows, baseline, search, record, out)
    gain = best["value"] - baseline["value"]
    if objective.direction == "min":
        gain = -gain
    print(
        f"best trial {best['trial']}: {objective.name} {best['value']:.4f} "
        f"(preset {baseline['value']:.4f}, "
        f"{'better' if gain > 0 else 'not better'} by {abs(gain):.4f})\n"
        f"Wrote {out / 'summary.md'}, summary.csv, trials.png and best.json. "
        f"Train with it: {' '.join(search.train_command(out / 'best.json'))}\n"
        f"Replay the best trial: {best['replay']}"
    )
    if not math.isfinite(best["value"]):
        raise RuntimeError("The best trial's score is not finite.")
    return best
