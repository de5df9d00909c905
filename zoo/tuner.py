"""The search engine of `python -m zoo tune`, on keras-tuner's public
API: a `keras_tuner.Tuner` whose `run_trial` trains each trial in its own
process (`zoo.trial`), an oracle that tries the preset first, and one line
per trial under a progress bar over the trials."""

import json
import os
import pathlib
import subprocess
import sys
import time

import keras_tuner

from zoo import files
from zoo import trial as trial_process
from zoo.search_report import short

ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}


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
        oracle = ORACLES[kind](max_epochs=search.epochs, **common)
        oracle.max_trials = max_trials  # also caps hyperband's brackets
        return oracle
    extra = {}
    if kind == "bayesian":
        # keras-tuner's default, 3 random trials per hyper-parameter, would
        # spend a short search on random trials alone; a third of the
        # budget leaves the rest to the Gaussian process.
        extra["num_initial_points"] = max(2, max_trials // 3)
    oracle = _preset_first(ORACLES[kind])(
        max_trials=max_trials, **common, **extra
    )
    oracle.first_values = first_values
    return oracle


def _preset_first(oracle_class):
    """`oracle_class` whose first trial takes `first_values`, so that the
    best trial is never worse than the preset; later trials are the
    oracle's own (`populate_space` is what an oracle defines)."""

    class PresetFirst(oracle_class):
        first_values = None

        def populate_space(self, trial_id):
            if self.first_values is not None and not self.trials:
                return {"status": "RUNNING", "values": dict(self.first_values)}
            return super().populate_space(trial_id)

    PresetFirst.__name__ = f"PresetFirst{oracle_class.__name__}"
    return PresetFirst


class ZooTuner(keras_tuner.Tuner):
    """Runs each trial of `search` (a `zoo.tune.Search`) in its own
    process, `executions_per_trial` times with seeds seed, seed+1, ...; a
    trial's score is the mean of its executions' best epochs. Records each
    trial's wall time, the search process's resident memory after it and
    the trial process's peak in trial_stats.json."""

    def __init__(self, oracle, search):
        super().__init__(
            oracle=oracle,
            directory=str(search.out),
            project_name="search",
            overwrite=False,  # resume a killed search
        )
        self.plan = search
        self.log_path = search.out / "trials.log"
        self.stats_path = search.out / "trial_stats.json"
        if not self.stats_path.is_file():
            files.write_text(self.stats_path, "{}\n")

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        folder = pathlib.Path(self.get_trial_dir(trial.trial_id))
        folder.mkdir(parents=True, exist_ok=True)
        previous = values.get("tuner/trial_id")  # hyperband's next round
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
        self._executions = {"scores": scores, "trial_peak_rss_mb": max(peaks)}
        return {self.plan.objective.name: sum(scores) / len(scores)}

    def _weights_path(self, trial_id):
        return pathlib.Path(self.get_trial_dir(trial_id)) / "best.weights.h5"

    def on_search_begin(self):
        super().on_search_begin()
        from tqdm import tqdm

        done = sum(t.status == "COMPLETED" for t in self.oracle.trials.values())
        self._bar = tqdm(
            total=self.oracle.max_trials,
            initial=min(done, self.oracle.max_trials),
            desc="trials",
            unit="trial",
            file=sys.stdout,
            disable=None,  # a bar on a terminal; the trial lines in logs
            dynamic_ncols=True,
        )

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_start = time.perf_counter()
        self._executions = {"scores": [], "trial_peak_rss_mb": None}
        with open(self.log_path, "a") as f:
            f.write(f"start {trial.trial_id}\n")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        trial = self.oracle.get_trial(trial.trial_id)
        seconds = time.perf_counter() - self._trial_start
        stats = json.loads(self.stats_path.read_text())
        stats[trial.trial_id] = {
            "seconds": round(seconds, 1),
            "rss_mb": round(resident_mb(), 1),
            **self._executions,
        }
        files.write_text(self.stats_path, json.dumps(stats, indent=2) + "\n")
        name = self.oracle.objective.name
        if trial.status == "COMPLETED":
            best = self.oracle.get_best_trials(1)[0].score
            result = f"{name} {trial.score:.4f} (best {best:.4f})"
        else:
            last = (trial.message or "").strip().splitlines()[-1:]
            result = f"{trial.status}: {' '.join(last)}"
        values = trial.hyperparameters.values
        epochs = values.get("tuner/epochs")  # hyperband's budget
        values = ", ".join(
            [f"{k}={short(v)}" for k, v in values.items() if "/" not in k]
            + ([f"epochs={epochs}"] if epochs else [])
        )
        self._bar.write(
            f"trial {trial.trial_id}: {result}; {values}; {seconds:.0f} s"
        )
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
