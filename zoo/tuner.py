"""The search engine of `python -m zoo tune`, on keras-tuner's public
API: a `keras_tuner.Tuner` whose `run_trial` trains each trial in its own
process (`zoo.trial`), an oracle that tries the preset first, and one line
per trial under a progress bar over the trials.

The tuner only uses what keras-tuner's `OracleClient` also offers
(`create_trial`, `end_trial`, `get_trial`, `get_best_trials`,
`get_space`), so that the same tuner is a worker of a distributed search
(`zoo.search_cluster`). What a trial measures besides its score (time,
memory, each execution's score) goes to the oracle with the score, as
the trial's metrics: the chief, which writes the summary, has them
whichever worker ran the trial."""

import json
import os
import pathlib
import subprocess
import sys
import time

import keras_tuner

from zoo import cli
from zoo import files
from zoo import runs
from zoo import trial as trial_process
from zoo.search_report import EXECUTION
from zoo.search_report import short
from zoo.search_report import trial_stats

ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}


# How long a worker waits before it asks again when the oracle has no
# trial for it yet (hyperband: the other trials of a round are running).
IDLE_SECONDS = 2.0


class TrialFailed(RuntimeError):
    pass


def best_epoch_value(history, objective):
    values = history[objective.name]
    return max(values) if objective.direction == "max" else min(values)


def run_trial_process(request, path):
    """Writes `request` to `path`, runs `python -m zoo.trial path` and
    returns the trial's result; `TrialFailed` with the end of its output
    when it fails."""
    files.write_text(path, json.dumps(request) + "\n")
    root = str(pathlib.Path(__file__).resolve().parents[1])  # holds zoo/
    paths = [root, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        trial_process.SEARCH_PID_ENV: str(os.getpid()),
    }
    result_path = pathlib.Path(request["result"])
    result_path.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "zoo.trial", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    if done.returncode or not result_path.is_file():
        tail = "\n".join(done.stdout.strip().splitlines()[-15:])
        raise TrialFailed(
            f"the trial's process exited with {done.returncode}:\n{tail}"
        )
    return json.loads(result_path.read_text())


def run_baseline(search):
    """The preset trained with a trial's budget (once; kept on disk)."""
    path = search.out / "baseline.json"
    if path.is_file():
        return json.loads(path.read_text())
    print("Baseline: the preset's own values, with a trial's budget")
    values = search.preset_values()
    objective = search.objective
    scores = []
    with runs.Timer() as timer:
        for execution in range(search.executions):
            name = f"execution{execution}." if execution else ""
            result = run_trial_process(
                search.request(
                    values,
                    execution,
                    search.out / f"baseline.{name}result.json",
                ),
                search.out / f"baseline.{name}request.json",
            )
            if objective.name not in result["history"]:
                raise cli.UsageError(
                    f"--objective {objective.name} is not a metric the "
                    f"trials log. They log: {sorted(result['history'])}"
                )
            scores.append(best_epoch_value(result["history"], objective))
    baseline = {
        "value": float(sum(scores) / len(scores)),
        "executions": [float(v) for v in scores],
        "seconds": round(timer.seconds, 1),
        "hyperparameters": values,
    }
    files.write_text(path, json.dumps(baseline, indent=2) + "\n")
    print(f"baseline {objective.name} {baseline['value']:.4f}")
    return baseline


def make_oracle(kind, search, first_values, max_trials):
    """keras-tuner's oracle of `kind` over the search's space; random and
    bayesian searches try `first_values` (the preset) first when given."""
    common = {
        "objective": search.objective,
        "hyperparameters": search.hyperparameters(),
        # keras-tuner takes a seed of 0 (the default --seed) for "pick one
        # at random": without the 1, a search's trials would not repeat.
        "seed": search.seed + 1,
        "max_consecutive_failed_trials": 3,
    }
    if kind == "hyperband":
        oracle = _zoo_oracle(ORACLES[kind])(max_epochs=search.epochs, **common)
        oracle.max_trials = max_trials  # also caps hyperband's brackets
        return oracle
    extra = {}
    if kind == "bayesian":
        # keras-tuner's default, 3 random trials per hyper-parameter, would
        # spend a short search on random trials alone; a third of the
        # budget leaves the rest to the Gaussian process.
        extra["num_initial_points"] = max(2, max_trials // 3)
    oracle = _zoo_oracle(ORACLES[kind])(
        max_trials=max_trials, **common, **extra
    )
    oracle.first_values = first_values
    return oracle


def _zoo_oracle(oracle_class):
    """`oracle_class` whose first trial takes `first_values`, so that the
    best trial is never worse than the preset; later trials are the
    oracle's own (`populate_space` is what an oracle defines).

    `serving`: the oracle is a distributed search's chief's. It prints a
    line for each trial a worker ends, and when too many trials failed in
    a row (keras-tuner raises in `end_trial`, which would fail the
    worker's request and leave the chief waiting for the trial forever),
    it keeps the error in `failure` and tells every worker to stop."""

    class ZooOracle(oracle_class):
        first_values = None
        serving = False
        failure = None

        def populate_space(self, trial_id):
            if self.failure is not None:
                return {"status": "STOPPED"}
            if self.first_values is not None and not self.trials:
                return {"status": "RUNNING", "values": dict(self.first_values)}
            return super().populate_space(trial_id)

        @keras_tuner.synchronized
        def end_trial(self, trial):
            ran_by = {t.trial_id: k for k, t in self.ongoing_trials.items()}
            try:
                super().end_trial(trial)
            except RuntimeError as e:  # too many failures in a row
                if not self.serving:
                    raise  # the search in this process stops with it
                self.failure = self.failure or e
                # keras-tuner raised before it let go of the trial.
                self.ongoing_trials = {
                    k: t
                    for k, t in self.ongoing_trials.items()
                    if t.trial_id != trial.trial_id
                }
                self.save()
            if self.serving:
                line = trial_line(self.get_trial(trial.trial_id), self)
                print(f"{line} ({ran_by.get(trial.trial_id)})", flush=True)

    ZooOracle.__name__ = f"Zoo{oracle_class.__name__}"
    return ZooOracle


def trial_line(trial, oracle, seconds=None):
    """The line that reports an ended trial: its score (and the best so
    far) or why it failed, its values, its time."""
    name = oracle.objective.name
    if trial.status == "COMPLETED":
        best = oracle.get_best_trials(1)[0].score
        result = f"{name} {trial.score:.4f} (best {best:.4f})"
    else:
        # A worker's messages stay in its own output.
        last = (trial.message or "").strip().splitlines()[-1:]
        result = f"{trial.status}: {' '.join(last) or 'the worker says why'}"
    values = trial.hyperparameters.values
    epochs = values.get("tuner/epochs")  # hyperband's budget
    values = ", ".join(
        [f"{k}={short(v)}" for k, v in values.items() if "/" not in k]
        + ([f"epochs={epochs}"] if epochs else [])
    )
    if seconds is None:
        seconds = trial_stats(trial)["seconds"]
    took = "" if seconds is None else f"; {seconds:.0f} s"
    return f"trial {trial.trial_id}: {result}; {values}{took}"


class ZooTuner(keras_tuner.Tuner):
    """Runs each trial of `search` (a `zoo.tune.Search`) in its own
    process, `executions_per_trial` times with seeds seed, seed+1, ...; a
    trial's score is the mean of its executions' best epochs. Each trial
    also reports its wall time, this process's resident memory after it
    and the trial process's peak (`search_report.trial_stats`). `role` is this
    process's part in the search (`zoo.search_cluster.Role`): a worker
    logs the trials it starts in trials.TUNER_ID.log, a search in one
    process in trials.log."""

    def __init__(self, oracle, search, role):
        super().__init__(
            oracle=oracle,
            directory=str(search.out),
            project_name="search",
            overwrite=False,  # resume a killed search
        )
        self.plan = search
        self.role = role
        name = f"trials.{role.tuner_id}" if role.distributed else "trials"
        self.log_path = search.out / f"{name}.log"
        self._idle = False

    def run_trial(self, trial, *args, **kwargs):
        start = time.perf_counter()
        values = trial.hyperparameters.values
        folder = pathlib.Path(self.get_trial_dir(trial.trial_id))
        folder.mkdir(parents=True, exist_ok=True)
        previous = values.get("tuner/trial_id")  # hyperband's next round
        if previous and not self._weights_path(previous).is_file():
            raise keras_tuner.errors.FailedTrialError(
                f"Hyperband continues trial {previous} from its weights, "
                f"and {self._weights_path(previous)} does not exist: another "
                "worker trained it in its own --out. A distributed "
                "hyperband search needs one --out shared by all processes."
            )
        scores, peaks = [], []
        for execution in range(self.plan.executions):
            name = f"execution{execution}." if execution else ""
            request = self.plan.request(
                {k: v for k, v in values.items() if not k.startswith("tuner/")},
                execution,
                folder / f"{name}result.json",
                epochs=values.get("tuner/epochs"),
                initial_epoch=values.get("tuner/initial_epoch", 0),
                load_weights=previous and str(self._weights_path(previous)),
                # The first execution's weights (hyperband continues).
                save_weights=None
                if execution
                else str(self._weights_path(trial.trial_id)),
            )
            try:
                result = run_trial_process(
                    request, folder / f"{name}request.json"
                )
            except TrialFailed as e:
                raise keras_tuner.errors.FailedTrialError(str(e)) from None
            objective = self.plan.objective
            scores.append(best_epoch_value(result["history"], objective))
            peaks.append(result["peak_rss_mb"])
        return {
            self.plan.objective.name: sum(scores) / len(scores),
            **{EXECUTION.format(i): s for i, s in enumerate(scores)},
            "seconds": round(time.perf_counter() - start, 1),
            "rss_mb": round(resident_mb(), 1),
            "trial_peak_rss_mb": max(peaks),
        }

    def _weights_path(self, trial_id):
        return pathlib.Path(self.get_trial_dir(trial_id)) / "best.weights.h5"

    def on_search_begin(self):
        super().on_search_begin()
        from tqdm import tqdm

        if self.role.is_worker:  # the chief knows how many trials are done
            total, done = None, 0
        else:
            total = self.oracle.max_trials
            trials = self.oracle.trials.values()
            done = min(total, sum(t.status == "COMPLETED" for t in trials))
        self._bar = tqdm(
            total=total,
            initial=done,
            desc="trials" if total else f"trials on {self.role.tuner_id}",
            unit="trial",
            file=sys.stdout,
            disable=None,  # a bar on a terminal; the trial lines in logs
            dynamic_ncols=True,
        )

    def pre_create_trial(self):
        # keras-tuner asks again at once when the oracle has no trial yet
        # (IDLE): wait a little between such asks.
        if self._idle:
            time.sleep(IDLE_SECONDS)
        self._idle = True

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._idle = False
        self._trial_start = time.perf_counter()
        with open(self.log_path, "a") as f:
            f.write(f"start {trial.trial_id}\n")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        seconds = time.perf_counter() - self._trial_start
        ended = self.oracle.get_trial(trial.trial_id)  # scored
        ended.message = trial.message  # a chief's copy has none
        self._bar.write(trial_line(ended, self.oracle, seconds))
        self._bar.update(1)

    def on_search_end(self):
        super().on_search_end()
        self._bar.close()


def resident_mb():
    """This process's resident memory in MiB (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
