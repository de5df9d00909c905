"""A search spread over processes, as keras-tuner runs one: the same
`python -m zoo tune` command in every process, each told its part by
keras-tuner's environment variables:

    KERASTUNER_TUNER_ID     `chief` for the process that serves the
                            oracle, another name per worker (tuner0, ...)
    KERASTUNER_ORACLE_IP    the address the chief serves on
    KERASTUNER_ORACLE_PORT  and its port

The chief checks the setup, trains the baseline, serves the oracle (gRPC)
until every trial has ended and then writes the summary; the workers take
trials from it and write only their own files (`work`). Without
these variables the whole search runs in one process.
"""

import dataclasses
import json
import os
import socket

from zoo import cli
from zoo import runs

TUNER_ID = "KERASTUNER_TUNER_ID"
ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
CHIEF = "chief"  # keras-tuner: a tuner id containing it is the chief


@dataclasses.dataclass(frozen=True)
class Role:
    """This process's part: `tuner_id` None for a search in one process."""

    tuner_id: str | None = None
    ip: str | None = None
    port: int | None = None

    @property
    def distributed(self):
        return self.tuner_id is not None

    @property
    def is_chief(self):
        return self.distributed and CHIEF in self.tuner_id

    @property
    def is_worker(self):
        return self.distributed and not self.is_chief

    @property
    def address(self):
        return f"{self.ip}:{self.port}"


def role_from_env(environ=None):
    """The `Role` the environment gives; a `UsageError` when it is half
    set (keras-tuner would fail only once the search starts, or run a
    search of its own when the address is missing)."""
    environ = os.environ if environ is None else environ
    names = (TUNER_ID, ORACLE_IP, ORACLE_PORT)
    given = {name: environ[name] for name in names if name in environ}
    if not given:
        return Role()
    missing = [name for name in names if not given.get(name)]
    if missing:
        raise cli.UsageError(
            f"A distributed search needs all of {', '.join(names)}; "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            f"not set (given: {given}). Set them all (chief and workers "
            "alike), or none for a search in one process."
        )
    port = given[ORACLE_PORT]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise cli.UsageError(
            f"{ORACLE_PORT} must be a port number from 1 to 65535. "
            f"Received: {port!r}"
        )
    return Role(given[TUNER_ID], given[ORACLE_IP], int(port))


def check_can_serve(role):
    """Before the chief trains the baseline: its address must be free
    (a `UsageError` when another process, say another chief, holds it)."""
    try:
        infos = socket.getaddrinfo(role.ip, role.port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.bind(address)
    except OSError as e:
        raise cli.UsageError(
            f"The chief cannot serve on {role.address} ({ORACLE_IP}, "
            f"{ORACLE_PORT}): {e.strerror or e}. Give an address of this "
            "machine and a free port."
        ) from None


def wait_for_chief(role, timeout):
    """Blocks until the chief answers at its address (it serves once its
    baseline is trained); a `UsageError` after `timeout` seconds."""
    import grpc

    print(
        f"{role.tuner_id}: waiting up to {timeout:g} s for the chief at "
        f"{role.address} (it serves once it has trained the baseline)",
        flush=True,
    )
    # Retry often: gRPC's default waits up to two minutes between tries.
    options = [("grpc.max_reconnect_backoff_ms", 2000)]
    with grpc.insecure_channel(role.address, options=options) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise cli.UsageError(
                f"No chief answered at {role.address} ({ORACLE_IP}, "
                f"{ORACLE_PORT}) within {timeout:g} s. Start the chief "
                f"({TUNER_ID}={CHIEF}) with the same command, check the "
                "address, or wait longer with --chief-timeout."
            ) from None


def check_same_search(role, record, path, resume_keys):
    """A `UsageError` when the worker's command (`record`) searches
    otherwise than the chief's, whose tune.json is at `path` when the
    worker shares the chief's --out."""
    if not path.is_file():
        return
    changes = runs.differences(
        json.loads(path.read_text()), record, resume_keys
    )
    if changes:
        raise cli.UsageError(
            f"{role.tuner_id}: this worker's command differs from the "
            f"chief's ({runs.describe(changes)}). Start every worker with "
            "the chief's command."
        )


def check_same_space(role, space, chief_space):
    """A `UsageError` when the chief's space (`keras_tuner.HyperParameters`)
    is not the one this worker's command declares."""

    def entries(hp):
        return {entry.name: entry.get_config() for entry in hp.space}

    ours, theirs = entries(space), entries(chief_space)
    if ours != theirs:
        names = sorted(
            name
            for name in {*ours, *theirs}
            if ours.get(name) != theirs.get(name)
        )
        raise cli.UsageError(
            f"{role.tuner_id}: the chief at {role.address} searches "
            f"another space than this command (differing: {names}). Start "
            "every worker with the chief's command."
        )


def work(search, role):
    """A worker's part, once the chief serves: trains the trials it hands
    out until it has none left. It writes only its own files
    (search/TUNER_ID.json, trials.TUNER_ID.log and the folders of the
    trials it runs), so that all may share one --out."""
    from zoo import tuner as tuner_lib

    search.out.mkdir(parents=True, exist_ok=True)
    # The local oracle only declares the space: keras-tuner sends every
    # call to the chief's.
    args = search.args
    oracle = tuner_lib.make_oracle(args.tuner, search, None, args.max_trials)
    tuner = tuner_lib.ZooTuner(oracle, search, role)
    check_same_space(role, search.hyperparameters(), tuner.oracle.get_space())
    print(f"{role.tuner_id}: taking trials from the chief at {role.address}")
    tuner.search(verbose=0)
    print(
        f"{role.tuner_id}: the chief has no more trials; it ends the search "
        "(the summary is in its --out)."
    )
