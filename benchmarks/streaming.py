"""Speed and memory of the streamed translation input pipeline
(`python -m zoo train translation --dataset custom --data GLOB`) on 1x,
10x and 100x Multi30k, against a training step of the default preset.

The corpora are Multi30k's 29,000 training pairs (de<TAB>en, from the
raw files of a data folder laid out as shared/data/README.md says), one
copy per TSV file under --work (1, 10 and 100 files; written once, reused
when present). Each size runs in a process of its own, which does what
`train` does before fitting (the checking pass, the vocabulary from the
sample, the shuffled, tokenized, bucketed stream of the `custom-base`
preset) and then draws batches: the parent reads that process's peak RSS
(`os.wait4`). Tokens are target tokens (padding left out), as the
training step counts them. The training step (`custom-base`: 3+3 layers,
d_model 256, XLA) runs in one more process on batches of the 1x stream:
each batch shape is compiled first, then the same batches are timed.

    python benchmarks/streaming.py --data-dir ../shared/data
    python benchmarks/streaming.py --sizes 1 10 --batches 100   # quicker
"""

import argparse
import gzip
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
PRESET = "custom-base"


def write_corpus(data_dir, work, copies):
    """`copies` TSV files of Multi30k's training pairs in `work`; their
    glob. A tab inside a sentence (one German line has one) becomes a
    space."""
    folder = work / f"multi30k-x{copies}"
    raw = data_dir / "multi30k" / "task1" / "raw"
    sides = [
        gzip.open(raw / f"train.{lang}.gz", "rt", encoding="utf-8")
        .read()
        .splitlines()
        for lang in ("de", "en")
    ]
    text = "".join(
        f"{s.replace(chr(9), ' ')}\t{t.replace(chr(9), ' ')}\n"
        for s, t in zip(*sides, strict=True)
    ).encode("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(copies):
        path = folder / f"part-{k:03d}.tsv"
        if not path.is_file() or path.stat().st_size != len(text):
            path.write_bytes(text)
    return str(folder / "*.tsv")


def target_tokens(batch):
    import numpy as np

    (_, _), out = batch
    return int(np.count_nonzero(np.asarray(out)))


def open_stream(glob, seed=0):
    """What `train` builds before fitting: `(seconds to check the files,
    train dataset, steps per epoch, extra)`."""
    from zoo import corpus_files
    from zoo import scan
    from zoo.translation import config
    from zoo.translation import stream

    cfg = config.PRESETS[PRESET]
    start = time.perf_counter()
    corpus = corpus_files.open_corpus("pairs", glob)
    found = scan.survey(corpus, seed, verbose=False)
    checked = time.perf_counter() - start
    folder = pathlib.Path(tempfile.mkdtemp())
    train, _, steps, extra = stream.prepare(folder, cfg, found, seed, False)
    return checked, train, steps, extra


def pipeline_child(glob, batches, rounds):
    """Rounds of `batches` batches from the stream: the median tokens/s."""
    checked, train, steps, _ = open_stream(glob)
    iterator = iter(train)
    for _ in range(50):  # warm-up: fill the shuffle buffer and buckets
        next(iterator)
    speeds = []
    for _ in range(rounds):
        tokens, start = 0, time.perf_counter()
        for _ in range(batches):
            tokens += target_tokens(next(iterator))
        speeds.append(tokens / (time.perf_counter() - start))
    return {
        "check_seconds": checked,
        "steps_per_epoch": steps,
        "tokens_per_second": statistics.median(speeds),
        "rounds": [round(s) for s in speeds],
    }


def training_child(glob, batches, rounds):
    """Median tokens/s of `custom-base` training steps on stream batches."""
    import keras

    from zoo import recipe
    from zoo.translation import config
    from zoo.translation.train import FAMILY

    cfg = config.PRESETS[PRESET]
    _, train, steps, extra = open_stream(glob)
    keras.utils.set_random_seed(0)
    held = list(train.take(batches).as_numpy_iterator())
    prepared = recipe.Prepared(train, None, steps, extra)
    model = FAMILY.build_model(cfg, prepared)
    FAMILY.compile_model(model, cfg, steps, jit_compile=True)
    for (source, target_in), target_out in held:  # compile every shape
        model.train_on_batch((source, target_in), target_out)
    tokens = sum(target_tokens(b) for b in held)
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        for (source, target_in), target_out in held:
            model.train_on_batch((source, target_in), target_out)
        speeds.append(tokens / (time.perf_counter() - start))
    return {
        "tokens_per_second": statistics.median(speeds),
        "rounds": [round(s) for s in speeds],
    }


def run_child(args, mode, glob):
    """Runs this script as a child; `(its result, its peak RSS in MB)`."""
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        glob,
        "--batches",
        str(args.batches),
        "--rounds",
        str(args.rounds),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    out = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{mode} {glob} failed ({child.returncode})")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=pathlib.Path, default=ROOT.parent / "shared" / "data"
    )
    parser.add_argument(
        "--work",
        type=pathlib.Path,
        default=pathlib.Path("/tmp/streaming-bench"),
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "GLOB"))
    args = parser.parse_args()
    if args.child:
        mode, glob = args.child
        child = pipeline_child if mode == "pipeline" else training_child
        print(json.dumps(child(glob, args.batches, args.rounds)))
        return

    import keras
    import tensorflow as tf

    globs = {n: write_corpus(args.data_dir, args.work, n) for n in args.sizes}
    rows = []
    for copies, glob in globs.items():
        result, rss = run_child(args, "pipeline", glob)
        megabytes = (
            sum(
                p.stat().st_size
                for p in pathlib.Path(glob).parent.glob("*.tsv")
            )
            / 1e6
        )
        rows.append(
            (
                f"pipeline {copies}x ({megabytes:,.0f} MB, "
                f"{29_000 * copies:,} pairs)",
                result,
                rss,
            )
        )
    step_batches = argparse.Namespace(**{**vars(args), "batches": 40})
    result, rss = run_child(step_batches, "training", globs[min(globs)])
    rows.append((f"training step, {PRESET} (XLA)", result, rss))

    hardware = f"{os.cpu_count()} CPU cores, {platform.processor() or 'cpu'}"
    versions = f"Keras {keras.__version__}, TF {tf.__version__}"
    print(
        "| run | target tokens/s (median) | rounds | check pass s | "
        "peak RSS MB |\n|---|---|---|---|---|"
    )
    for name, result, rss in rows:
        check = result.get("check_seconds")
        print(
            f"| {name} | {result['tokens_per_second']:,.0f} | "
            f"{result['rounds']} | "
            f"{'' if check is None else f'{check:.1f}'} | {rss:,.0f} |"
        )
    print(
        f"{hardware}; {versions}; batches per round: {args.batches} "
        f"(pipeline), 40 (training)"
    )


if __name__ == "__main__":
    main()
