"""A user's own corpus (`--dataset custom --data GLOB`), read as a stream.

A corpus is a list of files matched by a glob: UTF-8 text (gzipped when
the name ends in `.gz`), or the TFRecord shards `python -m zoo prepare`
writes. It is read in *units*,
the pieces it is shuffled and split in:

- `pairs` (translation): one line, `source<TAB>target`;
- `text` (GPT): a block of `BLOCK_LINES` consecutive lines of one file,
  each ending in a new line, so that windows of text stay contiguous.

Nothing holds the corpus in memory: `Corpus.units` is a `tf.data`
pipeline over the files (shuffled file order, a few files interleaved, a
bounded shuffle buffer). Validation units are held out by a hash of their
text (`is_val`): the same unit always falls on the same side, whatever
the file order, sharding or seed, so raw files and their prepared shards
split alike and a repeated line never sits on both sides. `--val-data
GLOB` gives the validation files instead.

`Corpus.record()` is what config.json keeps (the globs, every file and its
size): a run resumes only on the same files.
"""

import dataclasses
import json
import pathlib

from zoo.cli import UsageError

KINDS = ("pairs", "text")
BLOCK_LINES = 32  # lines per unit of a text corpus
DEFAULT_FRACTION = 0.02  # held out when neither --val-data nor a fraction
VAL_BUCKETS = 10_000  # is_val's resolution: fractions in steps of 1e-4
CYCLE_LENGTH = 8  # files read at once when shuffling
SHUFFLE_UNITS = {"pairs": 20_000, "text": 1_000}  # about 2-3 MB of text
SHARD_SUFFIX = ".tfrecord"
MANIFEST = "manifest.json"


def is_val(units, fraction):
    """Which of the string tensor `units` are held out for validation: a
    `fraction` of the hash buckets of their text (FarmHash64, stable
    across platforms and TensorFlow versions)."""
    import tensorflow as tf

    cut = round(fraction * VAL_BUCKETS)
    return tf.strings.to_hash_bucket_fast(units, VAL_BUCKETS) < cut


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Training and validation files of one corpus, and how to read them.

    `files` are the training files (with `holdout > 0`, validation units
    are taken from them too); `val_files` are the validation files of
    `--val-data` or of prepared shards. `prepared` is the manifest of the
    shards (`None` for text files)."""

    kind: str
    data: str
    files: tuple
    val_data: str = None
    val_files: tuple = ()
    holdout: float = 0.0
    prepared: dict = None

    @property
    def format(self):
        return "tfrecord" if self.prepared is not None else "text"

    def record(self):
        """The JSON config.json keeps (and a resumed run must match)."""
        record = {
            "kind": self.kind,
            "format": self.format,
            "data": self.data,
            "files": [list(f) for f in self.files],
            "val_data": self.val_data,
            "val_files": [list(f) for f in self.val_files],
            "val_fraction": self.holdout,
        }
        if self.prepared is not None:
            record["prepared"] = {
                k: self.prepared[k]
                for k in ("folder", "val_fraction", "seed", "sample_size")
            }
        return record

    @classmethod
    def from_record(cls, record):
        """The corpus a run trained on, from its config.json record; a
        `UsageError` when its files changed since."""
        prepared = record.get("prepared")
        if prepared is not None:
            prepared = read_manifest(pathlib.Path(prepared["folder"]))
        corpus = cls(
            kind=record["kind"],
            data=record["data"],
            files=tuple(tuple(f) for f in record["files"]),
            val_data=record["val_data"],
            val_files=tuple(tuple(f) for f in record["val_files"]),
            holdout=record["val_fraction"],
            prepared=prepared,
        )
        for path, size in corpus.files + corpus.val_files:
            p = pathlib.Path(path)
            if not p.is_file() or p.stat().st_size != size:
                raise UsageError(
                    f"{path}, which the run trained on ({size} bytes), is "
                    "gone or has changed since."
                )
        return corpus

    def file_units(self, path):
        """The units of one file, in order."""
        import tensorflow as tf

        if self.format == "tfrecord":
            return tf.data.TFRecordDataset(path)
        gzipped = tf.strings.regex_full_match(path, r".*\.gz")
        lines = tf.data.TextLineDataset(
            path, compression_type=tf.where(gzipped, "GZIP", "")
        )
        if self.kind == "pairs":
            return lines
        return lines.batch(BLOCK_LINES).map(
            lambda block: tf.strings.reduce_join(block + "\n")
        )

    def split_files(self, split):
        """`(files, keep)`: what `split` reads, and which of its units it
        keeps (`None`: all; else `True` for the held-out ones)."""
        if split not in ("train", "val"):
            raise ValueError(f"`split` must be 'train' or 'val': {split!r}")
        if split == "val" and self.val_files:
            return self.val_files, None
        if self.holdout:
            return self.files, split == "val"
        if split == "val":
            raise ValueError("This corpus has no validation units.")
        return self.files, None

    def units(self, split, shuffle_seed=None, repeat=False):
        """The units of `split` as a `tf.data.Dataset` of scalar strings.

        Without `shuffle_seed`: file after file, in order. With it: the
        file order is shuffled (again on every pass), `CYCLE_LENGTH` files
        are read at once, one unit from each in turn, and the units go
        through a shuffle buffer of `SHUFFLE_UNITS[kind]`. `repeat`
        passes over the data without end."""
        import tensorflow as tf

        files, keep = self.split_files(split)
        ds = tf.data.Dataset.from_tensor_slices([path for path, _ in files])
        shuffled = shuffle_seed is not None
        if shuffled:
            ds = ds.shuffle(len(files), seed=shuffle_seed)
        if repeat:
            ds = ds.repeat()
        if shuffled:
            ds = ds.interleave(
                self.file_units,
                cycle_length=min(CYCLE_LENGTH, len(files)),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        else:
            ds = ds.flat_map(self.file_units)
        if keep is not None:
            fraction = self.holdout
            ds = ds.filter(lambda unit: is_val(unit, fraction) == keep)
        if shuffled:
            ds = ds.shuffle(SHUFFLE_UNITS[self.kind], seed=shuffle_seed + 1)
        return ds


def read_manifest(folder):
    """The manifest of a folder `python -m zoo prepare` wrote."""
    path = folder / MANIFEST
    if not path.is_file():
        raise UsageError(
            f"{folder} has no {MANIFEST}: --data matches {SHARD_SUFFIX} "
            "files, but they are not the output of `python -m zoo prepare`."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path} is not valid JSON ({e}).") from None
    manifest["folder"] = str(folder)
    return manifest


def counted(dataset):
    """`dataset` (finite) with its length stated, counted by one pass:
    Keras then knows where a validation pass ends."""
    import tensorflow as tf

    count = int(dataset.reduce(0, lambda n, _: n + 1))
    return dataset.apply(tf.data.experimental.assert_cardinality(count))
