"""Shard a corpus once, to train on it many times.

    python -m zoo prepare translation --data 'corpus/*.tsv' --out shards/
    python -m zoo prepare gpt --data 'books/*.txt' --out shards/
    python -m zoo train translation --dataset custom --data 'shards/*.tfrecord'

Reads the text files once (the checks of `zoo.scan`: a bad line stops it
with its file and line), splits off the validation units as training on
the files would (`--val-fraction` by a hash of each unit, or
`--val-data`), draws the vocabulary sample (`--seed`), and writes:

    train-00000.tfrecord ...   the training units, each unit sent to a
                               random shard (seeded): every shard is a
                               random part of the corpus, in file order
    val-00000.tfrecord ...     the validation units, in file order
    sample.tfrecord            the vocabulary sample, in priority order
    manifest.json              the files read, the settings, and each
                               shard's size and count of units

A record is one unit as UTF-8 bytes: a `source<TAB>target` line, or a
block of lines of text. Training on the shards reads the same units,
splits and sample as training on the files with the same seed, without
reading the files again. The output folder is written whole or not at
all (`zoo.files.replacing`).
"""

import json
import math
import pathlib

from zoo import cli
from zoo import corpus as corpus_lib
from zoo import corpus_files
from zoo import files
from zoo import runs
from zoo import scan as scan_lib
from zoo.cli import UsageError

KINDS = {"translation": "pairs", "gpt": "text"}
MAX_SHARDS = 1000  # files open at once while writing
DEFAULT_SHARD_MB = 64.0


def parser():
    parser = cli.ArgumentParser(
        prog="python -m zoo prepare",
        description="Check a corpus and write it as TFRecord shards for "
        "`python -m zoo train TASK --dataset custom --data 'DIR/*.tfrecord'`"
        "; TASK is translation (TSV files: source<TAB>target) or gpt "
        "(text files).",
    )
    parser.add_argument(
        "task",
        metavar="TASK",
        choices=sorted(KINDS),
        help="translation (TSV files) or gpt (text files)",
    )
    parser.add_argument(
        "--data", required=True, metavar="GLOB", help="the corpus files"
    )
    parser.add_argument(
        "--out", required=True, type=cli.OUT_DIR, help="a new or empty folder"
    )
    parser.add_argument(
        "--val-data",
        metavar="GLOB",
        help="validation files (default: hold out --val-fraction of --data)",
    )
    parser.add_argument(
        "--val-fraction",
        type=cli.number(0.0, 0.5, low_open=True),
        help="fraction held out for validation, chosen by a hash of each "
        f"unit's text (default: {corpus_lib.DEFAULT_FRACTION})",
    )
    parser.add_argument(
        "--shard-size",
        type=cli.number(0.0, low_open=True),
        default=DEFAULT_SHARD_MB,
        metavar="MB",
        help=f"megabytes of text a shard (default: {DEFAULT_SHARD_MB:g})",
    )
    parser.add_argument(
        "--seed",
        type=cli.NON_NEGATIVE,
        default=0,
        help="draws the vocabulary sample and the shard of each unit",
    )
    return parser


class ShardWriter:
    """Training units to random shards, validation units to shards in
    order; counts what each shard holds."""

    def __init__(self, folder, train_shards, shard_bytes, seed):
        import numpy as np

        self.folder = folder
        self.shard_bytes = shard_bytes
        self.rng = np.random.default_rng((seed, 1))
        self.train = [self._open("train", i) for i in range(train_shards)]
        self.val = [self._open("val", 0)]

    def _open(self, split, index):
        import tensorflow as tf

        name = f"{split}-{index:05d}{corpus_lib.SHARD_SUFFIX}"
        writer = tf.io.TFRecordWriter(str(self.folder / name))
        return {
            "name": name,
            "writer": writer,
            "size": 0,
            "units": 0,
            "characters": 0,
        }

    def _put(self, shard, unit, characters):
        shard["writer"].write(unit)
        shard["size"] += len(unit)
        shard["units"] += 1
        shard["characters"] += int(characters)

    def __call__(self, units, val, characters):
        targets = self.rng.integers(len(self.train), size=len(units))
        for i, unit in enumerate(units):
            if not val[i]:
                self._put(self.train[targets[i]], unit, characters[i])
                continue
            if self.val[-1]["size"] >= self.shard_bytes:
                self.val[-1]["writer"].close()
                self.val.append(self._open("val", len(self.val)))
            self._put(self.val[-1], unit, characters[i])

    def close(self):
        """Closes the shards; returns the manifest entries of the splits
        (empty shards are deleted)."""
        splits = {}
        for split, shards in (("train", self.train), ("val", self.val)):
            kept = []
            for shard in shards:
                shard["writer"].close()
                path = self.folder / shard["name"]
                if not shard["units"]:
                    path.unlink()
                    continue
                kept.append(
                    {
                        "name": shard["name"],
                        "bytes": path.stat().st_size,
                        "units": shard["units"],
                        "characters": shard["characters"],
                    }
                )
            splits[split] = {
                "units": sum(s["units"] for s in kept),
                "characters": sum(s["characters"] for s in kept),
                "shards": kept,
            }
        return splits


def prepare_main(argv=None):
    args = parser().parse_args(argv)
    kind = KINDS[args.task]
    corpus = corpus_files.open_corpus(
        kind, args.data, args.val_data, args.val_fraction
    )
    if corpus.format != "text":
        raise UsageError(
            f"--data {args.data!r} matches shards already: give the text "
            "files they were written from."
        )
    out = pathlib.Path(args.out)
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} is not empty: give a new folder.")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: no folder {out.parent} for it.")
    shard_bytes = int(args.shard_size * 1e6)
    train_bytes = sum(size for _, size in corpus.files) * (1 - corpus.holdout)
    train_shards = max(1, math.ceil(train_bytes / shard_bytes))
    if train_shards > MAX_SHARDS:
        raise UsageError(
            f"--shard-size {args.shard_size:g} MB makes {train_shards} "
            f"training shards, more than {MAX_SHARDS} (files open at once): "
            "give a larger --shard-size."
        )

    with files.replacing(out) as temp:
        temp.mkdir()
        writer = ShardWriter(temp, train_shards, shard_bytes, args.seed)
        found = scan_lib.scan(corpus, args.seed, write=writer)
        splits = writer.close()
        write_sample(temp / "sample.tfrecord", found.sample)
        source = corpus.record()
        del source["format"]  # of the files read: text
        manifest = {
            "task": args.task,
            **source,
            "seed": args.seed,
            "sample": "sample.tfrecord",
            "sample_size": len(found.sample),
            "block_lines": corpus_lib.BLOCK_LINES,
            **splits,
            "command": runs.command_line(),
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        (temp / corpus_lib.MANIFEST).write_text(text, encoding="utf-8")
    print(
        f"{out}: {splits['train']['units']:,} training units in "
        f"{len(splits['train']['shards'])} shards, "
        f"{splits['val']['units']:,} validation units in "
        f"{len(splits['val']['shards'])}; train on them with\n"
        f"  python -m zoo train {args.task} --dataset custom --data "
        f"'{out}/*{corpus_lib.SHARD_SUFFIX}'"
    )
    return manifest


def write_sample(path, sample):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for unit in sample:
            writer.write(unit.encode("utf-8"))
