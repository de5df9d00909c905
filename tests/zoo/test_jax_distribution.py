"""`--distribution data-parallel|model-parallel` (Keras' own
distribution, JAX): the same run as one device, on two devices of one
process and on two processes on loopback; a killed process's run resumes
when both start again."""

import numpy as np
import pytest

from tests.zoo import cluster
from tests.zoo.test_multiworker import assert_resumed
from tests.zoo.test_multiworker import history
from tests.zoo.test_multiworker import kill_second_after

pytest.importorskip("jax")
pytestmark = pytest.mark.tensorflow  # the zoo's pipelines are tf.data

VIT = ["train", "vit", "--dataset", "digits", "--dropout-rate", "0"]
JAX = {"KERAS_BACKEND": "jax"}
TWO_DEVICES = {**JAX, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def jax_weights(out):
    """The weights of a run's model.keras, read in a JAX process (a
    model.keras loads on any backend, but this process is TensorFlow's
    and the file is enough)."""
    import zipfile

    import h5py

    with zipfile.ZipFile(out / "model.keras") as archive:
        archive.extract("model.weights.h5", out / "unpacked")
    arrays = []
    with h5py.File(out / "unpacked" / "model.weights.h5") as f:
        f.visititems(
            lambda name, item: arrays.append((name, item[()]))
            if isinstance(item, h5py.Dataset) else None
        )  # fmt: skip
    return dict(arrays)


def assert_same_run(out, reference, atol):
    ours, theirs = history(out), history(reference)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(
            [float(v) for v in a.values()],
            [float(v) for v in b.values()],
            rtol=1e-4,
        )
    a, b = jax_weights(out), jax_weights(reference)
    assert a.keys() == b.keys() and len(a) > 10
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=atol, err_msg=name)


def run_one(args, out, log, env):
    return cluster.start([*VIT, *args, "--out", str(out)], log, env)


def test_two_devices_train_what_one_device_trains(tmp_path):
    """data-parallel and model-parallel on two CPU devices of one process:
    the history (rtol 1e-4) and weights (5e-5) of one device."""
    args = ["--epochs", "2", "--steps-per-epoch", "5"]
    runs = {
        "single": (args, cluster.environment(**JAX)),
        "data": ([*args, "--distribution", "data-parallel"],
                 cluster.environment(**TWO_DEVICES)),
        "model": ([*args, "--distribution", "model-parallel"],
                  cluster.environment(**TWO_DEVICES)),
    }  # fmt: skip
    processes = [
        run_one(a, tmp_path / name, tmp_path / f"{name}.log", env)
        for name, (a, env) in runs.items()
    ]
    codes = cluster.finish(processes)
    logs = {name: cluster.output(tmp_path / f"{name}.log") for name in runs}
    assert codes == [0, 0, 0], logs
    assert "2 devices in 1 process(es)" in logs["model"]
    for name in ("data", "model"):
        assert_same_run(tmp_path / name, tmp_path / "single", atol=5e-5)


def two_processes(out, args, tmp_path, name, audit=False):
    port = cluster.free_ports(1)[0]
    processes = []
    for index in (0, 1):
        env = cluster.environment(
            **JAX,
            KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}",
            KERAS_DISTRIBUTION_NUM_PROCESSES="2",
            KERAS_DISTRIBUTION_PROCESS_ID=str(index),
        )
        writes = (tmp_path / f"{name}.writes{index}", out) if audit else None
        log = tmp_path / f"{name}.p{index}.log"
        command = [*VIT, *args, "--distribution", "data-parallel",
                   "--out", str(out)]  # fmt: skip
        processes.append((cluster.start(command, log, env, writes), log))
    return processes


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains(tmp_path):
    """Two JAX processes joined by keras.distribution.initialize: the run
    of one process (history rtol 1e-4, weights 5e-5); process 0 wrote
    every file, process 1 none."""
    args = ["--epochs", "3"]
    single = run_one(args, tmp_path / "single", tmp_path / "single.log",
                     cluster.environment(**JAX))  # fmt: skip
    pair = two_processes(tmp_path / "pair", args, tmp_path, "pair", audit=True)
    codes = cluster.finish([single, *(p for p, _ in pair)])
    logs = [cluster.output(log) for _, log in pair]
    assert codes == [0, 0, 0], logs
    assert "2 devices in 2 process(es)" in logs[1]
    assert_same_run(tmp_path / "pair", tmp_path / "single", atol=5e-5)
    chief_writes = (tmp_path / "pair.writes0").read_text()
    assert "model.keras" in chief_writes and "state.json" in chief_writes
    assert (tmp_path / "pair.writes1").read_text() == ""


@pytest.mark.slow
def test_a_killed_process_stops_the_other_and_both_resume(tmp_path):
    """Process 1 killed mid-epoch: JAX's coordination service stops
    process 0 (it does not wait forever); both started again resume after
    the last saved epoch and finish, one history row per epoch."""
    out = tmp_path / "run"
    args = ["--epochs", "5", "--batch-size", "8"]
    pair = two_processes(out, args, tmp_path, "first")
    codes, saved = kill_second_after(pair, out, epochs=2, timeout=300)
    assert codes[0] != 0, cluster.output(pair[0][1])
    again = two_processes(out, args, tmp_path, "again")
    assert_resumed(again, out, saved, epochs=5)
