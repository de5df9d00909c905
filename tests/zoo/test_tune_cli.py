"""`python -m zoo tune`: a search on the digits ViT in seconds, its files,
memory across trials, `train --hparams`, and resume after a kill."""

import csv
import json
import os
import shlex
import signal
import time

import numpy as np
import pytest

from tests.zoo.test_vit_cli import zoo
from zoo.__main__ import main
from zoo.__main__ import run

# Every trial the same size (only the learning rate differs), so their
# memory can be compared; one epoch of two steps each.
FIXED_SIZE = {
    "num_layers": 1,
    "d_model": 32,
    "num_heads": 2,
    "d_ff_multiple": 2,
    "dropout_rate": 0.0,
    "label_smoothing": 0.0,
}
QUICK = ["--epochs-per-trial", "1", "--steps-per-epoch", "2", "--no-jit"]


TRIALS = 6


def summary(folder):
    with open(folder / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """Six trials, as `python -m zoo tune` runs them (each in its own
    process)."""
    folder = tmp_path_factory.mktemp("tune")
    space = folder / "space.json"
    space.write_text(json.dumps(FIXED_SIZE))
    out = folder / "search"
    args = ["tune", "vit", "--dataset", "digits", "--max-trials", str(TRIALS)]
    assert main([*args, *QUICK, "--space", space, "--out", out]) == 0
    return out


def test_search_writes_summary_plot_and_best(search):
    rows = summary(search)
    assert [int(r["trial"]) for r in rows] == list(range(TRIALS))
    assert {r["status"] for r in rows} == {"COMPLETED"}
    scores = [float(r["score"]) for r in rows]
    best = json.loads((search / "best.json").read_text())
    assert best["objective"] == "val_cross_entropy"
    assert best["value"] == pytest.approx(min(scores))
    chosen = next(r for r in rows if r["trial"] == best["trial"])
    assert float(chosen["learning_rate"]) == pytest.approx(
        best["config"]["learning_rate"]
    )
    assert best["config"]["d_ff"] == 64  # d_ff_multiple x d_model
    baseline = json.loads((search / "baseline.json").read_text())
    assert best["baseline_value"] == baseline["value"]
    assert baseline["hyperparameters"]["d_model"] == 64  # digits-tiny's
    table = (search / "summary.md").read_text()
    assert table.count("\n| ") == TRIALS + 2  # header, trials, preset
    assert "| preset |" in table
    assert (search / "trials.png").read_bytes()[:4] == b"\x89PNG"


def test_memory_does_not_grow_from_trial_to_trial(search):
    """Each trial trains in its own process: the search's memory stays
    flat and every trial peaks at about the same size. (Training models
    one after another in one process grows by about 50 MB each, despite
    `keras.backend.clear_session()`.)"""
    rows = summary(search)
    search_rss = [float(r["rss_mb"]) for r in rows]
    trial_peaks = [float(r["trial_peak_rss_mb"]) for r in rows]
    assert len(search_rss) == TRIALS
    assert max(search_rss) - search_rss[0] < 40
    assert max(trial_peaks) - min(trial_peaks) < 80


def test_train_replays_the_best_trial(search, tmp_path):
    """best.json's `replay` command (`train --hparams best.json` with the
    trial's seed and budget) trains the trial's run again: the same
    settings, and the same score to 1e-3."""
    best = json.loads((search / "best.json").read_text())
    assert best["seed"] == 0
    assert best["budget"]["epochs"] == 1
    assert best["budget"]["steps_per_epoch"] == 2
    words = shlex.split(best["replay"])
    assert words[:4] == ["python", "-m", "zoo", "train"]
    out = tmp_path / "run"
    assert main([*words[3:], "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    for name, value in best["config"].items():
        assert config[name] == pytest.approx(value), name
    with open(out / "history.csv", newline="") as f:
        logged = [float(r[best["objective"]]) for r in csv.DictReader(f)]
    assert min(logged) == pytest.approx(best["value"], abs=1e-3)
    # Another seed gives another score: the match above is not a given.
    other = tmp_path / "other"
    assert main([*words[3:], "--seed", "1", "--out", str(other)]) == 0
    with open(other / "history.csv", newline="") as f:
        logged = [float(r[best["objective"]]) for r in csv.DictReader(f)]
    assert abs(min(logged) - best["value"]) > 1e-3


def test_train_options_win_over_best_json(search, tmp_path):
    out = tmp_path / "run"
    words = shlex.split(
        json.loads((search / "best.json").read_text())["replay"]
    )
    args = [*words[3:], "--learning-rate", "0.001", "--out", str(out)]
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["learning_rate"] == 0.001  # the command line wins
    assert config["epochs"] == 1


def test_tune_help_lists_its_options(capsys):
    assert main(["tune", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--tuner", "--max-trials", "--executions-per-trial"):
        assert option in out


def test_hparams_from_another_task_is_a_clear_error(tmp_path, capsys):
    other = tmp_path / "best.json"
    other.write_text(
        json.dumps({"task": "gpt", "dataset": "shakespeare", "config": {}})
    )
    code = run(["train", "vit", "--dataset", "digits", "--hparams", str(other)])
    assert code == 2
    assert "'gpt' search on 'shakespeare', not 'vit' on 'digits'" in (
        capsys.readouterr().err
    )


def test_hparams_from_another_language_pair_is_a_clear_error(tmp_path, capsys):
    best = tmp_path / "best.json"
    record = {"task": "translation", "dataset": "multi30k", "config": {}}
    best.write_text(json.dumps({**record, "src": "de", "tgt": "en"}))
    args = ["--dataset", "multi30k", "--src", "en", "--tgt", "de"]
    code = run(["train", "translation", *args, "--hparams", str(best)])
    assert code == 2
    assert "search on de->en, not en->de" in capsys.readouterr().err


def test_bad_space_file_is_a_clear_error(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"d_model": {"low": 8}}))
    args = ["tune", "vit", "--dataset", "digits", "--space", str(space)]
    assert run([*args, "--out", str(tmp_path / "s")]) == 2
    assert "takes low, high" in capsys.readouterr().err


def _trial_workers(folder):
    """PIDs of trial processes working for the search in `folder`."""
    pids = []
    for proc in os.listdir("/proc"):
        try:
            with open(f"/proc/{proc}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if "zoo.trial" in cmd and str(folder) in cmd:
            pids.append(int(proc))
    return pids


def _completed(folder):
    done = {}
    for path in (folder / "search").glob("trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except ValueError:  # being written
            continue
        if trial["status"] == "COMPLETED":
            done[trial["trial_id"]] = trial["score"]
    return done


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_killed_search_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "search"
    command = [
        "tune", "vit", "--dataset", "digits", "--max-trials", "4",
        "--epochs-per-trial", "2", "--steps-per-epoch", "10", "--no-jit",
        "--out", out,
    ]  # fmt: skip
    first = zoo(*command)
    deadline = time.time() + 300
    while not _completed(out) and first.poll() is None:
        assert time.time() < deadline, "no trial finished in 5 minutes"
        time.sleep(0.2)
    time.sleep(1.0)  # the next trial is under way
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = _completed(out)
    assert 1 <= len(before) < 4, "the search ended before it was killed"
    for _ in range(50):  # its trial process notices and stops
        if not _trial_workers(out):
            break
        time.sleep(0.2)
    assert not _trial_workers(out), "a trial process outlived its search"

    second = zoo(*command)
    output, _ = second.communicate(timeout=600)
    assert second.returncode == 0, output
    assert "Reloading Tuner" in output
    after = _completed(out)
    assert len(after) == 4
    assert {k: after[k] for k in before} == before
    starts = (out / "trials.log").read_text().split()
    started = [starts[i + 1] for i in range(0, len(starts), 2)]
    for trial_id in before:  # finished trials are not run again
        assert started.count(trial_id) == 1
    assert len(summary(out)) == 4
    # The first trial is the preset: the baseline's values and score.
    baseline = json.loads((out / "baseline.json").read_text())
    first = json.loads((out / "search/trial_0/trial.json").read_text())
    values = first["hyperparameters"]["values"]
    assert values == pytest.approx(baseline["hyperparameters"])
    assert after["0"] == pytest.approx(baseline["value"], rel=1e-5)
    assert np.isfinite(json.loads((out / "best.json").read_text())["value"])


@pytest.mark.parametrize(
    "given, expected",
    [
        ("val_loss", ("val_loss", "min")),
        ("val_accuracy", ("val_accuracy", "max")),
        ("val_perplexity", ("val_perplexity", "min")),
        ("bleu:max", ("bleu", "max")),  # was minimized: no "accuracy"
        ("val_cross_entropy", ("val_cross_entropy", "min")),
        ("val_f1:max", ("val_f1", "max")),
        ("val_accuracy:min", ("val_accuracy", "min")),  # said explicitly
    ],
)
def test_the_objective_has_an_explicit_direction(given, expected):
    from zoo.search_space import objective_from

    objective = objective_from(given, None)
    assert (objective.name, objective.direction) == expected


@pytest.mark.parametrize("given", ["val_f1", "bleu", "val_f1:up", ":max"])
def test_an_objective_without_a_known_direction_is_refused(given, capsys):
    args = ["tune", "vit", "--dataset", "digits", "--objective", given]
    assert run(args) == 2
    assert "--objective" in capsys.readouterr().err


def test_a_trial_trains_for_its_own_budget():
    """A trial's config has the length of its own epochs (hyperband gives
    each its own), and its replay command trains that length."""
    import pathlib
    import types

    import keras_tuner

    from zoo import options
    from zoo import tasks
    from zoo.tune import Search

    family = tasks.family("gpt")
    preset, cfg = options.resolve(family, "shakespeare")
    args = types.SimpleNamespace(
        seed=3, epochs_per_trial=4, executions_per_trial=1,
        steps_per_epoch=None, no_jit=False, data_dir=None, src="de",
        tgt="en", dataset="shakespeare",
    )  # fmt: skip
    objective = keras_tuner.Objective("val_loss", "min")
    search = Search(family, preset, cfg, {}, objective, args, pathlib.Path())
    interval = cfg.eval_interval
    assert search.trial_config({}).iterations == 4 * interval
    assert search.trial_config({}, epochs=2).iterations == 2 * interval
    budget = search.budget({"tuner/epochs": 2})
    assert budget["iterations"] == 2 * interval
    words = search.replay_command("best.json", budget).split()
    assert words[words.index("--iterations") + 1] == str(2 * interval)
    assert words[words.index("--seed") + 1] == "3"


@pytest.mark.parametrize(
    "task, dataset, space, named",
    [
        ("vit", "digits", {"validation_size": [100]}, "validation_size"),
        ("translation", "multi30k", {"vocab_size": [1000]}, "vocab_size"),
        ("gpt", "shakespeare", {"eval_interval": [300]}, "eval_interval"),
        ("vit", "digits", {"batch_size": [64, 5000]}, "--batch-size 5000"),
    ],
)
def test_a_space_the_trials_cannot_train_is_refused(
    task, dataset, space, named, tmp_path, capsys
):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    out = tmp_path / "search"
    args = ["tune", task, "--dataset", dataset, "--space", str(path)]
    assert run([*args, "--out", str(out)]) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_a_search_draws_the_same_trials_for_the_same_seed():
    """The oracle draws the same values for the same --seed, 0 included
    (keras-tuner takes a seed of 0 for "pick one at random"): a search
    repeats, and the chief of a distributed search draws the trials a
    search in one process would."""
    import types

    import keras_transformer.tuning as tuning
    from zoo import options
    from zoo import search_space
    from zoo import tasks
    from zoo import tuner as tuner_lib
    from zoo.tune import Search

    family = tasks.family("vit")
    preset, cfg = options.resolve(family, "digits")
    space = search_space.build_space(family, cfg, {}, "test")
    objective = getattr(tuning, family.hypermodel).OBJECTIVE

    def draws(seed):
        args = types.SimpleNamespace(seed=seed, epochs_per_trial=1)
        search = Search(family, preset, cfg, space, objective, args, None)
        oracle = tuner_lib.make_oracle("random", search, None, 4)
        return [oracle.populate_space(str(i))["values"] for i in range(3)]

    assert draws(0) == draws(0)
    assert draws(1) == draws(1)
    assert draws(0) != draws(1)
