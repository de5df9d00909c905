"""One pass over the text files of a corpus before anything trains on
them (`python -m zoo train ... --data`, `python -m zoo prepare`).

The pass checks every unit (valid UTF-8; in a translation corpus exactly
one tab with text on both sides) and stops at the first bad one with its
file and line, counts the training and validation units, and draws the
sample the vocabulary is learned from. It reads the files through the
same `tf.data` readers as training (`Corpus.file_units`), one batch of
units at a time: memory does not grow with the corpus.

The sample is a reservoir sample: every training unit gets a random
priority from a generator seeded with `--seed`, and the `SAMPLE_SIZE`
units of lowest priority are kept (a uniform sample, reproducible with
the seed, whose size does not depend on the corpus). It is kept in
priority order: the order the vocabulary learner reads it in.
"""

import dataclasses
import heapq

from zoo.cli import UsageError

SCAN_BATCH = 4096  # units per step of the pass
# Units in the vocabulary sample: 50,000 sentence pairs (about 6 MB of
# Multi30k-like text, more than Multi30k's 29,000), or 2,000 blocks of 32
# lines (about 2.5 MB of Tiny Shakespeare-like text).
SAMPLE_SIZE = {"pairs": 50_000, "text": 2_000}
INT63 = 2**63 - 1


@dataclasses.dataclass
class Scan:
    """What the pass found (or, for prepared shards, what their manifest
    says it found)."""

    corpus: object  # the `zoo.corpus.Corpus`
    units: dict  # split -> count
    characters: dict  # split -> count
    # The sampled training units, in priority order: a translation
    # corpus's lines, or the distinct characters of a text corpus's blocks.
    sample: list


def _facts(kind, holdout):
    """A `tf.data` map: a batch of units -> the units, whether each one is
    well formed, and whether it is held out for validation."""
    import tensorflow as tf

    from zoo import corpus

    def facts(units):
        fixed = tf.strings.unicode_transcode(
            units, "UTF-8", "UTF-8", errors="replace"
        )
        ok = tf.equal(fixed, units)
        if kind == "pairs":
            one_tab = r"[^\t]*\S[^\t]*\t[^\t]*\S[^\t]*"
            ok &= tf.strings.regex_full_match(fixed, one_tab)
        val = corpus.is_val(units, holdout) if holdout else tf.zeros_like(ok)
        characters = tf.strings.length(fixed, unit="UTF8_CHAR")
        return units, ok, val, characters

    return facts


def _problem(kind, unit):
    """Why `unit` (bytes) is not a well-formed unit of `kind`, and its
    offset in lines from the unit's first line."""
    for offset, line in enumerate(unit.split(b"\n")):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            return offset, f"not UTF-8 text ({e.reason} at byte {e.start})"
        if kind == "pairs":
            tabs = text.count("\t")
            if tabs != 1:
                return offset, (
                    f"{'no tab' if not tabs else f'{tabs} tabs'}: each line "
                    f"must be source<TAB>target. The line: {text[:80]!r}"
                )
            source, target = text.split("\t")
            if not source.strip() or not target.strip():
                side = "source" if not source.strip() else "target"
                return offset, f"the {side} is empty. The line: {text[:80]!r}"
    raise ValueError(f"No problem found in {unit[:80]!r}")


def _summary(kind, unit):
    """What the vocabulary needs of a sampled unit."""
    text = unit.decode("utf-8")
    return text if kind == "pairs" else "".join(sorted(set(text)))


class Reservoir:
    """The `size` units of lowest priority, each unit's priority drawn
    from a generator seeded with `seed` as it arrives (ties: the earlier
    unit)."""

    def __init__(self, kind, size, seed):
        import numpy as np

        self.kind = kind
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.heap = []  # (-priority, -arrival, summary): the worst on top
        self.arrived = 0

    def offer(self, units, eligible):
        """Draws a priority for each of `units`; keeps the `eligible` ones
        whose priority is among the lowest."""
        import numpy as np

        priority = self.rng.integers(0, INT63, len(units))
        if len(self.heap) == self.size:  # at or below the worst kept
            eligible = eligible & (priority <= -self.heap[0][0])
        for i in np.flatnonzero(eligible):
            entry = (-int(priority[i]), -(self.arrived + i))
            if len(self.heap) < self.size:
                item = (*entry, _summary(self.kind, units[i]))
                heapq.heappush(self.heap, item)
            elif entry > self.heap[0][:2]:
                item = (*entry, _summary(self.kind, units[i]))
                heapq.heapreplace(self.heap, item)
        self.arrived += len(units)

    def sample(self):
        """The kept units' summaries, lowest priority first."""
        return [item[2] for item in sorted(self.heap, reverse=True)]


def scan(corpus, seed, write=None, verbose=True, sample_size=None):
    """Reads every file of the text `corpus` once (its `--val-data` files
    too); returns a `Scan`. `write(units, val, characters)` (NumPy
    arrays: unit bytes, held-out flags, lengths in characters) sees every
    unit once, in file order. A bad unit is a `UsageError` naming its
    file and line."""
    import keras
    import numpy as np

    from zoo import corpus as corpus_lib

    if corpus.format != "text":
        raise ValueError("Only text files are scanned: shards were checked.")
    kind = corpus.kind
    lines_per_unit = 1 if kind == "pairs" else corpus_lib.BLOCK_LINES
    reservoir = Reservoir(kind, sample_size or SAMPLE_SIZE[kind], seed)
    counts = {"train": 0, "val": 0}
    characters = {"train": 0, "val": 0}
    # (file, held-out fraction); None: a validation file
    roles = [(f, corpus.holdout) for f in corpus.files]
    roles += [(f, None) for f in corpus.val_files]
    total = sum(file[1] for file, _ in roles)
    if verbose:
        print(f"Checking {len(roles)} files ({total:,} bytes)")
    progress = keras.utils.Progbar(
        total, verbose=1 if verbose else 0, unit_name="byte"
    )
    done = 0
    for (path, size), holdout in roles:
        if path.endswith(".gz"):
            _check_gzip(path)
        units = corpus.file_units(path).batch(SCAN_BATCH)
        facts = units.map(_facts(kind, holdout or 0.0))
        read = first = 0
        for batch, ok, val, length in _readable(facts, path):
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                offset, problem = _problem(kind, batch[i])
                line = (first + i) * lines_per_unit + offset + 1
                raise UsageError(f"{path}, line {line}: {problem}")
            if holdout is None:
                val = np.ones(len(batch), bool)
            counts["val"] += int(val.sum())
            counts["train"] += int((~val).sum())
            characters["val"] += int(length[val].sum())
            characters["train"] += int(length[~val].sum())
            reservoir.offer(batch, ~val)
            if write is not None:
                write(batch, val, length)
            first += len(batch)
            read += sum(map(len, batch)) + len(batch) * (kind == "pairs")
            progress.update(done + min(read, size))
        done += size
    progress.update(done, finalize=True)
    _check_counts(corpus, counts)
    return Scan(corpus, counts, characters, reservoir.sample())


def _check_gzip(path):
    """A `UsageError` unless `path` is a whole gzip file (TensorFlow reads
    a truncated one as the part that is there, without an error)."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 22):
                pass
    except (OSError, EOFError, zlib.error) as e:
        raise UsageError(f"{path} cannot be read ({e}).") from None


def _readable(dataset, path):
    """The elements of `dataset`, with a read error (a damaged gzip file,
    a file gone) as a `UsageError` naming `path`."""
    import tensorflow as tf

    iterator = dataset.as_numpy_iterator()
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as e:
            raise UsageError(f"{path} cannot be read ({e.message}).") from None


def _check_counts(corpus, counts):
    unit = "lines" if corpus.kind == "pairs" else "blocks of lines"
    if not counts["train"]:
        raise UsageError(
            f"--data {corpus.data!r} leaves no training {unit}: lower "
            "--val-fraction or give more text."
        )
    if not counts["val"]:
        raise UsageError(
            f"--val-fraction {corpus.holdout:g} holds out none of the "
            f"{counts['train']} {unit} of --data {corpus.data!r}: raise it "
            "or give --val-data."
        )


def survey(corpus, seed, verbose=True):
    """The `Scan` of `corpus`: a pass over its text files, or, for shards
    of `python -m zoo prepare`, what their manifest recorded (their
    sample is the one drawn with the prepare command's seed)."""
    if corpus.format == "text":
        return scan(corpus, seed, verbose=verbose)
    import pathlib

    import tensorflow as tf

    manifest = corpus.prepared
    names = {pathlib.Path(path).name for path, _ in corpus.files}
    shards = [s for s in manifest["train"]["shards"] if s["name"] in names]
    units = {"train": sum(s["units"] for s in shards)}
    characters = {"train": sum(s["characters"] for s in shards)}
    units["val"] = manifest["val"]["units"]
    characters["val"] = manifest["val"]["characters"]
    sample_path = pathlib.Path(manifest["folder"]) / manifest["sample"]
    records = tf.data.TFRecordDataset(str(sample_path))
    sample = [r.decode("utf-8") for r in records.as_numpy_iterator()]
    if verbose:
        print(
            f"{len(shards)} of the {len(manifest['train']['shards'])} "
            f"training shards of {manifest['folder']}: {units['train']:,} "
            f"units; the vocabulary sample of its --seed {manifest['seed']}"
        )
    return Scan(corpus, units, characters, sample)
