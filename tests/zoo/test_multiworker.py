"""`--strategy multiworker`: two TensorFlow workers on loopback train
what one process trains, the chief alone writes the run, and a killed
worker's run resumes when both start again."""

import csv
import json
import signal
import time

import numpy as np
import pytest

from tests.zoo import cluster

pytestmark = pytest.mark.tensorflow

# dropout 0: each worker would draw its own dropout masks, and one
# process others.
VIT = ["train", "vit", "--dataset", "digits", "--dropout-rate", "0"]


def two_workers(out, args, tmp_path, name, audit=False):
    ports = cluster.free_ports(2)
    workers = []
    for index in (0, 1):
        env = cluster.environment(TF_CONFIG=cluster.tf_config(ports, index))
        writes = (tmp_path / f"{name}.writes{index}", out) if audit else None
        log = tmp_path / f"{name}.w{index}.log"
        workers.append(
            (cluster.start([*VIT, *args, "--strategy", "multiworker",
                            "--out", str(out)], log, env, writes), log)
        )  # fmt: skip
    return workers


def history(out):
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def weights(out):
    import keras

    import keras_transformer  # noqa: F401

    return keras.saving.load_model(out / "model.keras").get_weights()


def test_two_workers_train_what_one_process_trains(tmp_path):
    """Same global batch, seed and steps: the same history (4 decimals)
    and weights (2e-4: the workers sum two half-batch gradients) as a
    single process; the chief wrote every file, the other worker none."""
    args = ["--epochs", "3", "--no-jit"]
    single = tmp_path / "single"
    reference = cluster.start(
        [*VIT, *args, "--out", str(single)],
        tmp_path / "single.log",
        cluster.environment(),
    )
    out = tmp_path / "multi"
    workers = two_workers(out, args, tmp_path, "multi", audit=True)
    codes = cluster.finish([reference, *(p for p, _ in workers)])
    logs = [cluster.output(log) for _, log in workers]
    assert codes == [0, 0, 0], logs
    assert "the chief (process 0) writes the results" in logs[1]

    ours, theirs = history(out), history(single)
    assert [row.keys() for row in ours] == [row.keys() for row in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(
            [float(v) for v in a.values()],
            [float(v) for v in b.values()],
            rtol=1e-4,
        )
    for a, b in zip(weights(out), weights(single), strict=True):
        np.testing.assert_allclose(a, b, atol=2e-4)
    ran = json.loads((out / "metrics.json").read_text())
    assert ran["test_accuracy"] == pytest.approx(
        json.loads((single / "metrics.json").read_text())["test_accuracy"]
    )
    chief_writes = (tmp_path / "multi.writes0").read_text()
    assert "model.keras" in chief_writes and "state.json" in chief_writes
    assert (tmp_path / "multi.writes1").read_text() == ""


def committed_epoch(out):
    try:
        state = json.loads((out / "checkpoints/backup/state.json").read_text())
    except (OSError, ValueError):
        return 0
    return state["epoch"]


@pytest.mark.slow
def test_a_killed_worker_stops_the_other_and_both_resume(tmp_path):
    """Worker 1 killed mid-epoch: worker 0 stops with a message (exit 2)
    instead of waiting; both started again resume after the last saved
    epoch and finish the run, with one history row per epoch."""
    out = tmp_path / "run"
    args = ["--epochs", "6", "--batch-size", "8"]  # 161 steps an epoch
    workers = two_workers(out, args, tmp_path, "first")
    codes, saved = kill_second_after(workers, out, epochs=2, timeout=120)
    first = cluster.output(workers[0][1])
    assert codes[0] == 2, first
    assert "A worker stopped during training" in first
    again = two_workers(out, args, tmp_path, "again")
    assert_resumed(again, out, saved, epochs=6)


def kill_second_after(processes, out, epochs, timeout):
    """Kills the second of `processes` a second into the epoch after the
    run in `out` saved `epochs`; waits for the first to stop. Returns
    the exit codes and the last saved epoch."""
    deadline = time.monotonic() + 400
    while committed_epoch(out) < epochs and time.monotonic() < deadline:
        time.sleep(0.2)
    assert committed_epoch(out) >= epochs, cluster.output(processes[0][1])
    time.sleep(1.0)  # into the next epoch
    processes[1][0].send_signal(signal.SIGKILL)
    codes = cluster.finish([p for p, _ in processes], timeout=timeout)
    assert codes[1] == -signal.SIGKILL
    saved = committed_epoch(out)
    assert not (out / "metrics.json").exists()
    return codes, saved


def assert_resumed(processes, out, saved, epochs):
    """`processes`, started again, resumed after epoch `saved` and
    finished the run: one history row per epoch, metrics.json written."""
    codes = cluster.finish([p for p, _ in processes])
    logs = [cluster.output(log) for _, log in processes]
    assert codes == [0, 0], logs
    for log in logs:
        assert f"Resuming after epoch {saved} from" in log
    assert [int(row["epoch"]) for row in history(out)] == list(range(epochs))
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize(
    "tf_config, named",
    [
        (None, "TF_CONFIG"),
        ("{not json", "TF_CONFIG"),
        ('{"cluster": {"worker": ["a:1"]}}', "'task'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", '
         '"index": 0}}', "'ps'"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": '
         '"worker", "index": 2}}', "index 2"),
        ('{"cluster": {"worker": ["a:1"], "ps": ["c:1"]}, "task": '
         '{"type": "worker", "index": 0}}', "['ps']"),
    ],
)  # fmt: skip
def test_a_bad_tf_config_is_one_line(tf_config, named, tmp_path, monkeypatch,
                                     capsys):  # fmt: skip
    from zoo.__main__ import run

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    out = tmp_path / "run"
    assert run([*VIT, "--strategy", "multiworker", "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: ") and named in message, message
    assert not out.exists()


def test_cpu_replicas_do_not_go_with_multiworker(tmp_path, monkeypatch,
                                                 capsys):  # fmt: skip
    from zoo.__main__ import run

    monkeypatch.setenv("TF_CONFIG", cluster.tf_config([1, 2], 0))
    args = ["--strategy", "multiworker", "--cpu-replicas", "2"]
    assert run([*VIT, *args, "--out", str(tmp_path / "run")]) == 2
    assert "--cpu-replicas" in capsys.readouterr().err
