"""One search trial, in its own process: `python -m zoo.trial REQUEST`.

The request (JSON, written by `zoo.tuner`) holds the trial's whole
config, seed, budget and data settings; the trial trains it with the run
skeleton `zoo.recipe` (the same steps in the same order as `python -m zoo
train`) and writes the per-epoch metrics to `request["result"]`.

TensorFlow keeps memory from every model trained in a process, even after
`keras.backend.clear_session()` (about 50 MB per trial for a 2-layer ViT;
keras-team/keras#17458), so each trial gets a process and returns all of
it when it ends.
"""

import dataclasses
import json
import os
import pathlib
import sys
import threading
import time
import types

# The search's process id, for its trial processes to watch.
SEARCH_PID_ENV = "ZOO_TUNE_SEARCH_PID"


def config_of(family, request):
    """The trial's config: the preset's class with the request's fields."""
    preset = family.config.PRESETS[request["preset"]]
    return dataclasses.replace(preset, **request["config"])


def train(request):
    """Trains the request's config; returns the result to write."""
    import keras

    from zoo import recipe
    from zoo import tasks

    family = tasks.family(request["task"])
    cfg = config_of(family, request)
    args = types.SimpleNamespace(**request["data"])
    data = recipe.load_data(family, cfg, args)
    model, prepared, _ = recipe.start(
        family,
        cfg,
        data,
        pathlib.Path(request["folder"]),
        seed=args.seed,
        jit_compile=request["jit_compile"],
        steps_per_epoch=request["steps_per_epoch"],
        verbose=False,
    )
    if request.get("load_weights"):
        model.load_weights(request["load_weights"])
    callbacks = []
    if request.get("save_weights"):  # hyperband's next round starts here
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                request["save_weights"],
                monitor=request["objective"],
                mode=request["direction"],
                save_best_only=True,
                save_weights_only=True,
            )
        )
    history = recipe.fit(
        family,
        model,
        prepared,
        cfg,
        callbacks,
        initial_epoch=request.get("initial_epoch", 0),
        epochs=request.get("epochs"),
        verbose=0,
    )
    return {
        "history": {
            k: [float(v) for v in vs] for k, vs in history.history.items()
        },
        "peak_rss_mb": round(peak_resident_mb(), 1),
    }


def exit_with_parent():
    """Ends this process when the search that started it dies (killed),
    so that no orphaned trial keeps the CPU busy. On Linux the kernel
    sends SIGKILL the moment the parent dies (`PR_SET_PDEATHSIG`); a
    thread that polls the parent's id covers the other systems."""
    parent = int(os.environ.get(SEARCH_PID_ENV, os.getppid()))
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died before the request took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def peak_resident_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    # First, before the imports and the data: a search killed while this
    # process starts up takes it along.
    exit_with_parent()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    (path,) = sys.argv[1:] if argv is None else argv
    request = json.loads(pathlib.Path(path).read_text())
    result = train(request)

    from zoo import files

    files.write_text(request["result"], json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
