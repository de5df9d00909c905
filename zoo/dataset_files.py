"""Where the zoo's dataset files live, and whether they are the right ones.

A dataset's files are looked for in a local data folder first
(`--data-dir`, else the environment variable `KERAS_TRANSFORMER_DATA`, else
`~/.keras/datasets`) and checked against their published sha256, or
against a folder's `SAMPLE.json` when it declares itself a sample. When no
folder has them and the dataset's download fails, `DatasetNotFoundError`
says where it looked and how to point the loader at a local copy. The
loaders themselves, and their downloads, are in `zoo.datasets`.
"""

import gzip
import hashlib
import json
import os
import pathlib

DATA_ENV = "KERAS_TRANSFORMER_DATA"
DEFAULT_DIR = pathlib.Path("~/.keras/datasets").expanduser()


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither in a local folder nor downloadable."""


def search_dirs(data_dir=None):
    """The folders searched, in order."""
    dirs = []
    if data_dir:
        dirs.append(pathlib.Path(data_dir).expanduser())
    elif os.environ.get(DATA_ENV):
        dirs.append(pathlib.Path(os.environ[DATA_ENV]).expanduser())
    dirs.append(DEFAULT_DIR)
    return dirs


def sha256(path, decompress=False):
    opener = gzip.open if decompress else open
    digest = hashlib.sha256()
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def not_found_error(name, relpaths, dirs, download_error):
    """The `DatasetNotFoundError` for `name`: every path looked for in
    `dirs`, and why the download failed (if it was tried)."""
    looked = "\n".join(f"  {d / p}" for d in dirs for p in relpaths)
    reason = (
        f"\nThe download failed: {download_error}" if download_error else ""
    )
    return DatasetNotFoundError(
        f"Dataset {name!r} not found. Looked for:\n{looked}{reason}\n"
        f"Put the files there, or point the loader at a folder that has "
        f"them with --data-dir DIR or {DATA_ENV}=DIR."
    )


SAMPLE_MANIFEST = "SAMPLE.json"


def declared_sample(folder, name, files):
    """The entry of `folder/SAMPLE.json` that declares the folder a sample
    of dataset `name` (same file names, other content), or `None`.

    A sample is a small stand-in in the dataset's layout, such as the
    corpora the tests train on (`tests/data`): its manifest lists each
    file's sha256, `{"multi30k": {"description": ..., "files": {path:
    sha256}}}`, and the files must match it exactly, as the full dataset's
    must match the published checksums.
    """
    manifest = folder / SAMPLE_MANIFEST
    if not manifest.is_file():
        return None
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8")).get(name)
    except (ValueError, AttributeError) as e:
        raise ValueError(
            f"{manifest} is not a valid sample manifest: {e}"
        ) from None
    if not entry:
        return None
    if sorted(entry.get("files", {})) != sorted(files):
        raise ValueError(
            f"{manifest} declares a sample of {name!r} with files "
            f"{sorted(entry.get('files', {}))}; expected {sorted(files)}."
        )
    return entry


def locate(name, files, data_dir=None, download=None):
    """Paths of `files` (relative path -> check) in the first folder that has
    them all; else `download(target_dir)`.

    Each check is `(sha256, decompress)`: the expected sha256 of the file,
    or of its gzip-decompressed content when `decompress` is true (so a
    re-compressed copy of the same data passes too). A folder whose
    `SAMPLE.json` declares it a sample of `name` is checked against that
    manifest instead, and a line says that a sample is being read.
    """
    dirs = search_dirs(data_dir)
    for folder in dirs:
        paths = {rel: folder / rel for rel in files}
        if all(p.is_file() for p in paths.values()):
            sample = declared_sample(folder, name, files)
            if sample is not None:
                for rel, expected in sample["files"].items():
                    if sha256(paths[rel]) != expected:
                        raise ValueError(
                            f"Checksum mismatch for {paths[rel]}: it does "
                            f"not match {folder / SAMPLE_MANIFEST}."
                        )
                print(
                    f"Reading a sample of {name!r} from {folder}: "
                    f"{sample.get('description', 'not the full dataset')}."
                )
                return paths
            for rel, (expected, decompress) in files.items():
                actual = sha256(paths[rel], decompress)
                if actual != expected:
                    raise ValueError(
                        f"Checksum mismatch for {paths[rel]}: expected "
                        f"sha256 {expected}, got {actual}. The file is "
                        "damaged or is not the expected dataset."
                    )
            return paths
    error = None
    if download is not None:
        try:
            return download(DEFAULT_DIR)
        except Exception as e:  # no network, server gone, bad checksum
            error = e
    raise not_found_error(name, list(files), dirs, error)
