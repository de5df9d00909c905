"""Several `python -m zoo` processes on loopback, as the tests of
multi-worker training start them."""

import json
import os
import pathlib
import socket
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Records, in the file $WRITES_LOG, every write the process makes: files
# opened for writing, replaced, renamed, removed, folders made. Python's
# audit events see them all, as h5py's and TensorFlow's own writers go
# through a temporary file that `zoo.files` then renames.
_AUDITED = """
import os, runpy, sys
log = open(os.environ["WRITES_LOG"], "a", buffering=1)
watched = os.path.realpath(os.environ["WRITES_UNDER"])

def under(path):
    try:
        return os.path.realpath(os.fsdecode(path)).startswith(watched)
    except (TypeError, ValueError):
        return False

def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes)):
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in mode for c in "wax+") or flags & (
            os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writes and under(args[0]):
            log.write(f"open {args[0]}\\n")
    elif event in ("os.rename", "os.remove", "os.mkdir", "shutil.copyfile",
                   "os.rmdir", "os.truncate"):
        paths = [a for a in args if isinstance(a, (str, bytes, os.PathLike))]
        if any(under(p) for p in paths):
            log.write(f"{event} {paths}\\n")

sys.addaudithook(hook)
sys.argv = ["zoo", *sys.argv[1:]]
runpy.run_module("zoo", run_name="__main__", alter_sys=True)
"""


def free_ports(count):
    """`count` TCP ports free on loopback now."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def environment(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    env.pop("TF_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    env.update(extra)
    return env


def start(args, log, env, writes=None):
    """`python -m zoo ARGS` in the background, its output in `log`. With
    `writes=(log_file, folder)`, every write under `folder` is recorded."""
    if writes is None:
        command = [sys.executable, "-m", "zoo", *args]
    else:
        env = dict(env, WRITES_LOG=str(writes[0]), WRITES_UNDER=str(writes[1]))
        command = [sys.executable, "-c", _AUDITED, *args]
    with open(log, "w") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def finish(processes, timeout=600):
    """Waits for every process; their exit codes."""
    codes = []
    try:
        for p in processes:
            codes.append(p.wait(timeout=timeout))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    return codes


def output(log):
    return pathlib.Path(log).read_text(errors="replace")
