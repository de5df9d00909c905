"""Which files a corpus of your own is (`--dataset custom`): the options
`--data`, `--val-data` and `--val-fraction`, the files their globs match
(each readable and not empty) or the shards of `python -m zoo prepare`
(checked against their manifest), as a `zoo.corpus.Corpus`. Every check
here runs before anything is read or written."""

import glob
import pathlib

from zoo import cli
from zoo.cli import UsageError
from zoo.corpus import DEFAULT_FRACTION
from zoo.corpus import KINDS
from zoo.corpus import MANIFEST
from zoo.corpus import SHARD_SUFFIX
from zoo.corpus import Corpus
from zoo.corpus import read_manifest


def add_arguments(parser, files_help):
    """`--data`, `--val-data` and `--val-fraction` (`--dataset custom`);
    `files_help` says what the files hold."""
    parser.add_argument(
        "--data",
        metavar="GLOB",
        help=f"with --dataset custom: your corpus, {files_help} (gzipped "
        f"when named *.gz), or the *{SHARD_SUFFIX} shards of `python -m zoo "
        "prepare`",
    )
    parser.add_argument(
        "--val-data",
        metavar="GLOB",
        help="with --data: validation files (default: hold out "
        "--val-fraction of --data)",
    )
    parser.add_argument(
        "--val-fraction",
        type=cli.number(0.0, 0.5, low_open=True),
        help="with --data: the fraction held out for validation, chosen by "
        f"a hash of each unit's text (default: {DEFAULT_FRACTION})",
    )
    parser.set_defaults(corpus=None)


def check_args(args, kind):
    """With `--dataset custom`, sets `args.corpus` to the record of the
    corpus `--data` names (files found, readable, not empty); refuses the
    corpus options with a built-in dataset."""
    given = [
        flag
        for flag, name in (
            ("--data", "data"),
            ("--val-data", "val_data"),
            ("--val-fraction", "val_fraction"),
        )
        if getattr(args, name, None) is not None
    ]
    if args.dataset != "custom":
        if given:
            raise UsageError(
                f"{given[0]} is for your own corpus: give it with --dataset "
                f"custom (--dataset {args.dataset} reads the built-in "
                "dataset)."
            )
        return
    if not hasattr(args, "data"):
        raise UsageError(
            "--dataset custom trains on your own files: `python -m zoo "
            "train TASK --dataset custom --data GLOB`; this command does "
            "not take them."
        )
    if args.data is None:
        raise UsageError(
            "--dataset custom needs --data GLOB: the files of your corpus."
        )
    if args.data_dir is not None:
        raise UsageError(
            "--data-dir is where the built-in datasets are; --dataset "
            "custom reads the files of --data."
        )
    corpus = open_corpus(kind, args.data, args.val_data, args.val_fraction)
    args.corpus = corpus.record()


def find_files(pattern, option="--data"):
    """`((path, bytes), ...)`, sorted, of the files `pattern` matches; a
    `UsageError` naming `option` when it matches none or a file cannot
    be read or is empty."""
    expanded = str(pathlib.Path(pattern).expanduser())
    if pathlib.Path(expanded).is_dir():
        raise UsageError(
            f"{option} {pattern!r} is a folder: give a glob of files in "
            f"it, such as {option} '{pattern.rstrip('/')}/*'."
        )
    matches = sorted(glob.glob(expanded, recursive=True))
    paths = [pathlib.Path(m).absolute() for m in matches]
    paths = [p for p in paths if not p.is_dir()]
    if not paths:
        raise UsageError(
            f"{option} {pattern!r} matches no file. Give a glob of your "
            "corpus files (quoted, so that the shell leaves it alone)."
        )
    found = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                f.read(1)
            size = path.stat().st_size
        except OSError as e:
            raise UsageError(
                f"{option}: {path} cannot be read ({e.strerror or e})."
            ) from None
        if size == 0:
            raise UsageError(f"{option}: {path} is empty.")
        found.append((str(path), size))
    return tuple(found)


def open_corpus(kind, data, val_data=None, val_fraction=None):
    """The `Corpus` of `--data` (text files or prepared shards) and its
    validation: `--val-data`, else a held-out `--val-fraction`."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}: {kind!r}")
    files = find_files(data)
    shards = [p for p, _ in files if p.endswith(SHARD_SUFFIX)]
    if shards and len(shards) != len(files):
        raise UsageError(
            f"--data {data!r} matches both {SHARD_SUFFIX} shards and other "
            "files: give one or the other."
        )
    if shards:
        return _prepared_corpus(kind, data, files, val_data, val_fraction)
    if val_data is not None:
        if val_fraction is not None:
            raise UsageError(
                "Give --val-data or --val-fraction, not both: the one takes "
                "validation text from its own files, the other holds out "
                "part of --data."
            )
        val_files = find_files(val_data, "--val-data")
        overlap = sorted({p for p, _ in files} & {p for p, _ in val_files})
        if overlap:
            raise UsageError(
                f"--data and --val-data both match {overlap[0]}: validation "
                "files must not be trained on."
            )
        return Corpus(kind, data, files, val_data, val_files)
    return Corpus(kind, data, files, holdout=val_fraction or DEFAULT_FRACTION)


def _prepared_corpus(kind, data, files, val_data, val_fraction):
    folders = {pathlib.Path(p).parent for p, _ in files}
    if len(folders) > 1:
        raise UsageError(
            f"--data {data!r} matches shards in {len(folders)} folders; "
            "give the shards of one `python -m zoo prepare` output."
        )
    folder = folders.pop()
    manifest = read_manifest(folder)
    if manifest.get("kind") != kind:
        raise UsageError(
            f"{folder} holds shards of a {manifest.get('task')!r} corpus "
            f"({manifest.get('kind')}), not of this task's ({kind})."
        )
    if val_data is not None or val_fraction is not None:
        raise UsageError(
            f"The validation split of {folder} was fixed by `python -m zoo "
            "prepare`: drop --val-data and --val-fraction."
        )
    sizes = {s["name"]: s["bytes"] for s in manifest["train"]["shards"]}
    train = []
    for path, size in files:
        name = pathlib.Path(path).name
        if name in sizes and sizes[name] != size:
            raise UsageError(
                f"{path} has {size} bytes; {folder / MANIFEST} says "
                f"{sizes[name]}: the shard was changed or cut short."
            )
        if name in sizes:
            train.append((path, size))
    if not train:
        raise UsageError(
            f"--data {data!r} matches none of the training shards of "
            f"{folder} (train-*{SHARD_SUFFIX})."
        )
    val = tuple(
        (str(folder / s["name"]), s["bytes"]) for s in manifest["val"]["shards"]
    )
    return Corpus(kind, data, tuple(train), None, val, prepared=manifest)
