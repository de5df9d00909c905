"""Files that are whole or absent: a process killed while writing one
leaves the previous version (or none), never half of it.

Each is written beside its final place under a temporary name, flushed
to disk (`fsync`), then renamed over the final name (`os.replace`, one
atomic step on POSIX and Windows), and the folder is synced so that the
rename itself is on disk.
"""

import contextlib
import os
import pathlib
import shutil

TEMP_PREFIX = ".tmp-"


def temp_path(path):
    """A temporary name beside `path`, with the same suffixes (Keras
    checks `.keras` and `.weights.h5`)."""
    path = pathlib.Path(path)
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


def fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms where a folder cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path):
    """`with replacing(path) as temp:` write `temp` (a file, or a folder
    when `path` does not exist yet); when the block ends without an
    error, `temp` replaces `path` in one step (else it is removed and
    `path` is untouched)."""
    path = pathlib.Path(path)
    temp = temp_path(path)
    try:
        yield temp
        if temp.is_dir():
            for folder, _, names in os.walk(temp):
                for name in names:
                    fsync_file(os.path.join(folder, name))
            if path.is_dir():  # a folder cannot be renamed over another
                shutil.rmtree(path)
        else:
            fsync_file(temp)
        os.replace(temp, path)
    except BaseException:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` whole or not at all."""
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


def copy(source, target):
    """Copies the file `source` to `target` whole or not at all."""
    with replacing(target) as temp:
        shutil.copyfile(source, temp)


def remove_temporaries(folder):
    """Deletes what killed writers left in `folder`: their temporary
    files and folders."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return
    for path in folder.glob(f"{TEMP_PREFIX}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def undo_on_failure(folder, restore=()):
    """Leaves `folder` as it was when the block raises (a failed start):
    removes it if the block created it (with the parents it created),
    else removes the entries the block added at its top and restores the
    files named in `restore` (names inside `folder`)."""
    folder = pathlib.Path(folder).absolute()
    created = None
    missing = folder
    while not missing.exists():
        created, missing = missing, missing.parent
    before = set(os.listdir(folder)) if folder.is_dir() else set()
    saved = {
        name: (folder / name).read_bytes()
        for name in restore
        if created is None and (folder / name).is_file()
    }
    try:
        yield
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        elif folder.is_dir():
            for name in set(os.listdir(folder)) - before:
                path = folder / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            for name in restore:
                if name in saved:
                    with replacing(folder / name) as temp:
                        temp.write_bytes(saved[name])
                else:
                    (folder / name).unlink(missing_ok=True)
        raise


def save_model(model, path):
    """`model.save(path)` (a `.keras` file), whole or not at all."""
    with replacing(path) as temp:
        model.save(temp)
