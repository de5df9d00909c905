"""`python -m zoo tune` as keras-tuner's distributed search: one chief and
workers on loopback, each a `python -m zoo tune` process told its part by
KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.zoo.conftest import ROOT
from zoo.__main__ import run

# Four small trials of one epoch of two steps; only the learning rate
# and the depth differ.
SPACE = {
    "num_layers": [1, 2],
    "d_model": 32,
    "num_heads": 2,
    "d_ff_multiple": 2,
    "dropout_rate": 0.0,
    "label_smoothing": 0.0,
}
TRIALS = 4
# A trial and its replay by `train` agree to 1e-3 (test_tune_cli); the
# same trial trained by a worker and by a search in one process runs the
# same code on the same values and seeds, in a fresh process each.
TOLERANCE = 1e-6
TIMEOUT = 900  # seconds for a whole search on a busy machine


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cluster_env(tuner_id, port):
    return {
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
    }


def tune_args(tmp_path, out):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    return [
        "tune", "vit", "--dataset", "digits", "--max-trials", TRIALS,
        "--epochs-per-trial", "1", "--steps-per-epoch", "2", "--no-jit",
        "--space", space, "--out", out,
    ]  # fmt: skip


class Processes:
    """`python -m zoo` processes, each printing to its own log file;
    those still running when the test ends are killed."""

    def __init__(self, folder):
        self.folder = folder
        self.started = {}

    def start(self, name, args, env=None):
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **(env or {}),
        }
        for key in [k for k in environment if k.startswith("KERASTUNER_")]:
            if key not in (env or {}):
                del environment[key]  # not from the test's own environment
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "zoo", *map(str, args)],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started[name] = (process, log)
        return process

    def output(self, name):
        return (self.folder / f"{name}.log").read_text()

    def wait(self, name, timeout=TIMEOUT):
        process, log = self.started[name]
        try:
            code = process.wait(timeout=timeout)
        finally:
            log.flush()
        assert code == 0, f"{name} exited with {code}:\n{self.output(name)}"

    def close(self):
        for process, log in self.started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.close()


def summary(out):
    with open(out / "summary.csv", newline="") as f:
        return {row["trial"]: row for row in csv.DictReader(f)}


def trial_json(out, trial_id):
    return json.loads(
        (out / "search" / f"trial_{trial_id}" / "trial.json").read_text()
    )


def starts(log):
    """The trials a trials.*.log says were started, in order."""
    if not log.is_file():
        return []
    return [line.split()[1] for line in log.read_text().splitlines()]


# ------------------------------------------------------- a bad setup


@pytest.mark.parametrize(
    "env, named",
    [
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1"}, "KERASTUNER_TUNER_ID"),
        (
            {"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_PORT": "1"},
            "KERASTUNER_ORACLE_IP is not set",
        ),
        (
            {**cluster_env("tuner0", 1), "KERASTUNER_ORACLE_PORT": "http"},
            "port number",
        ),
        ({**cluster_env("", 8000)}, "KERASTUNER_TUNER_ID is not set"),
    ],
)
def test_a_half_set_environment_is_a_usage_error(
    env, named, monkeypatch, tmp_path, capsys
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "search"
    assert run(tune_args(tmp_path, out)) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_a_worker_without_a_chief_stops_with_a_timeout(
    monkeypatch, tmp_path, capsys
):
    for key, value in cluster_env("tuner0", free_port()).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "search"
    args = [*tune_args(tmp_path, out), "--chief-timeout", "2"]
    start = time.perf_counter()
    assert run(args) == 2
    assert time.perf_counter() - start < 60
    error = capsys.readouterr().err
    assert "No chief answered at 127.0.0.1:" in error
    assert "within 2 s" in error
    assert not out.exists()  # a worker writes nothing before the chief


def test_a_chief_whose_port_is_taken_is_a_usage_error(
    monkeypatch, tmp_path, capsys
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for key, value in cluster_env("chief", port).items():
            monkeypatch.setenv(key, value)
        out = tmp_path / "search"
        assert run(tune_args(tmp_path, out)) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err
    assert not out.exists()


def test_a_worker_with_another_command_is_refused(tmp_path):
    import keras_tuner

    from zoo import cli
    from zoo import search_cluster
    from zoo.tune import RESUME_KEYS

    role = search_cluster.Role("tuner1", "127.0.0.1", 8000)
    chief = {"seed": 0, "epochs_per_trial": 5, "command": "chief's"}
    path = tmp_path / "tune.json"  # the chief's, in a shared --out
    worker = {**chief, "command": "worker's"}
    search_cluster.check_same_search(role, worker, path, RESUME_KEYS)
    path.write_text(json.dumps(chief))
    search_cluster.check_same_search(role, worker, path, RESUME_KEYS)
    worker["epochs_per_trial"] = 3
    with pytest.raises(cli.UsageError, match="epochs_per_trial: 5 -> 3"):
        search_cluster.check_same_search(role, worker, path, RESUME_KEYS)

    def space(choices):
        hp = keras_tuner.HyperParameters()
        hp.Choice("d_model", choices)
        hp.Fixed("num_heads", 2)
        return hp

    search_cluster.check_same_space(role, space([32, 64]), space([32, 64]))
    with pytest.raises(cli.UsageError, match=r"differing: \['d_model'\]"):
        search_cluster.check_same_space(role, space([32, 64]), space([32]))


@pytest.mark.parametrize("serving", [False, True])
def test_too_many_failed_trials_stop_the_workers_not_the_chief(
    serving, tmp_path
):
    """keras-tuner raises in `end_trial` at the third failed trial in a
    row. In one process that stops the search; a chief, which would
    raise it into the worker's request and wait for the trial forever,
    lets the trial go, keeps the error and tells every worker to stop."""
    import types

    import keras_transformer.tuning as tuning
    from zoo import options
    from zoo import search_cluster
    from zoo import search_space
    from zoo import tasks
    from zoo import tuner as tuner_lib
    from zoo.tune import Search

    family = tasks.family("vit")
    preset, cfg = options.resolve(family, "digits")
    space = search_space.build_space(family, cfg, {}, "test")
    objective = getattr(tuning, family.hypermodel).OBJECTIVE
    args = types.SimpleNamespace(seed=0, epochs_per_trial=1)
    search = Search(family, preset, cfg, space, objective, args, tmp_path)
    oracle = tuner_lib.make_oracle("random", search, None, TRIALS + 2)
    tuner_lib.ZooTuner(oracle, search, search_cluster.Role())  # its folder
    oracle.serving = serving
    for i in range(3):
        trial = oracle.create_trial(f"tuner{i}")
        trial.status = "FAILED"
        if i == 2 and not serving:
            with pytest.raises(RuntimeError, match="consecutive failures"):
                oracle.end_trial(trial)
            return
        oracle.end_trial(trial)
    assert "consecutive failures" in str(oracle.failure)
    assert not oracle.ongoing_trials  # the chief waits for none
    assert oracle.create_trial("tuner0").status == "STOPPED"


# ------------------------------------------------- a search on loopback


@pytest.mark.slow
def test_a_chief_and_two_workers_search_as_one_process_does(
    processes, tmp_path
):
    """One --out shared by all: the chief trains the baseline once and
    writes the summary; every trial is trained exactly once, by one of
    the workers, to the score a search in one process gives it."""
    port = free_port()
    out, alone = tmp_path / "shared", tmp_path / "alone"
    processes.start("alone", tune_args(tmp_path, alone))
    processes.start(
        "chief", tune_args(tmp_path, out), cluster_env("chief", port)
    )
    for worker in ("tuner0", "tuner1"):
        processes.start(
            worker, tune_args(tmp_path, out), cluster_env(worker, port)
        )
    for name in ("tuner0", "tuner1", "chief", "alone"):
        processes.wait(name)

    # The baseline: trained by the chief alone.
    assert processes.output("chief").count("Baseline:") == 1
    for worker in ("tuner0", "tuner1"):
        assert "Baseline" not in processes.output(worker)
        assert "taking trials from the chief" in processes.output(worker)
    assert json.loads((out / "baseline.json").read_text())["value"] == (
        pytest.approx(
            json.loads((alone / "baseline.json").read_text())["value"],
            abs=TOLERANCE,
        )
    )

    # Each trial trained once, by a worker; both workers took trials.
    ran = {w: starts(out / f"trials.{w}.log") for w in ("tuner0", "tuner1")}
    assert all(ran.values()), ran
    assert sorted(ran["tuner0"] + ran["tuner1"]) == [
        str(i) for i in range(TRIALS)
    ]
    assert not (out / "trials.log").exists()  # the chief trains no trial

    # The same trials, to the same scores, as the search in one process.
    shared, reference = summary(out), summary(alone)
    assert sorted(shared) == sorted(reference)
    for trial_id, row in shared.items():
        assert row["status"] == "COMPLETED"
        assert (
            trial_json(out, trial_id)["hyperparameters"]["values"]
            == (trial_json(alone, trial_id)["hyperparameters"]["values"])
        )
        assert float(row["score"]) == pytest.approx(
            float(reference[trial_id]["score"]), abs=TOLERANCE
        )
        assert float(row["seconds"]) > 0  # reported through the chief
    best = json.loads((out / "best.json").read_text())
    assert (
        best["trial"] == json.loads((alone / "best.json").read_text())["trial"]
    )
    # Only the chief's summary and each process's own files.
    assert sorted(p.name for p in out.iterdir()) == [
        "baseline.json", "baseline.request.json", "baseline.result.json",
        "best.json", "search", "summary.csv", "summary.md",
        "trials.png", "trials.tuner0.log", "trials.tuner1.log", "tune.json",
    ]  # fmt: skip


@pytest.mark.slow
def test_a_worker_killed_mid_trial_gets_its_trial_again(processes, tmp_path):
    """Each process with its own --out. A worker killed (SIGKILL) in the
    middle of a trial and started again with the same
    KERASTUNER_TUNER_ID is handed the same trial again (keras-tuner's
    oracle keeps each tuner's ongoing trial); the search completes."""
    port = free_port()
    outs = {name: tmp_path / name for name in ("chief", "tuner0", "tuner1")}

    def start(name, log_name=None):
        args = tune_args(tmp_path, outs[name])
        return processes.start(log_name or name, args, cluster_env(name, port))

    start("chief")
    start("tuner0")
    victim = start("tuner1")
    log = outs["tuner1"] / "trials.tuner1.log"
    deadline = time.time() + TIMEOUT
    while not starts(log):
        assert victim.poll() is None, processes.output("tuner1")
        assert time.time() < deadline, "tuner1 started no trial"
        time.sleep(0.2)
    time.sleep(3.0)  # well into the trial's training process
    (killed,) = starts(log)
    assert trial_json(outs["chief"], killed)["status"] == "RUNNING"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert trial_json(outs["chief"], killed)["status"] == "RUNNING"

    start("tuner1", "tuner1-again")
    for name in ("tuner0", "tuner1-again", "chief"):
        processes.wait(name)

    # tuner1 started the killed trial again first, and finished it.
    again = starts(log)
    assert again[:2] == [killed, killed]
    rows = summary(outs["chief"])
    assert sorted(rows) == [str(i) for i in range(TRIALS)]
    assert {row["status"] for row in rows.values()} == {"COMPLETED"}
    # Every other trial was trained once.
    ran = starts(outs["tuner0"] / "trials.tuner0.log") + again[1:]
    assert sorted(ran) == [str(i) for i in range(TRIALS)]
    # The workers wrote no baseline and no summary.
    for worker in ("tuner0", "tuner1"):
        assert not list(outs[worker].glob("baseline*"))
        assert not (outs[worker] / "summary.csv").exists()
