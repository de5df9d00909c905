"""Real datasets for the zoo recipes: each one's files, source and reader.

Each loader finds its files with `zoo.dataset_files.locate`: in a local
data folder first (`--data-dir`, else the environment variable
`KERAS_TRANSFORMER_DATA`, else `~/.keras/datasets`), checksum verified, and
only then by downloading from the dataset's public source. When neither
works it raises `DatasetNotFoundError`, which says where it looked and how
to point the loader at a local copy. The folder layout is that of the
project's data README: `mnist/t10k-images-idx3-ubyte.gz`,
`cifar10-jpeg/train.tar.gz`, ...
"""

import gzip
import io
import pathlib
import pickle
import tarfile

import numpy as np

# `DEFAULT_DIR` is read as `dataset_files.DEFAULT_DIR`, so setting it there
# moves every default folder at once; `DATA_ENV` is re-exported.
from zoo import dataset_files
from zoo.dataset_files import DATA_ENV as DATA_ENV
from zoo.dataset_files import DatasetNotFoundError
from zoo.dataset_files import locate
from zoo.dataset_files import not_found_error
from zoo.dataset_files import search_dirs
from zoo.dataset_files import sha256

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _fetch(url, target, md5=None):
    """Downloads `url` to `target` (checksum verified) via Keras."""
    import keras

    target.parent.mkdir(parents=True, exist_ok=True)
    return pathlib.Path(
        keras.utils.get_file(
            fname=target.name,
            origin=url,
            file_hash=md5,
            hash_algorithm="md5",
            cache_dir=str(target.parent),
            cache_subdir="",
        )
    )


# -- scikit-learn digits -----------------------------------------------------


def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 8x8 digits, scaled to 0-255, as
    `(x_train, y_train), (x_test, y_test)` with `x` `(n, 8, 8, 1)` uint8.

    The split is stratified and seeded (`seed=0`, 20% test: 1,437 / 360).
    Ships with scikit-learn: nothing to download.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")
    x_train, x_test, y_train, y_test = train_test_split(
        images[..., None],
        digits.target.astype("int32"),
        test_size=test_fraction,
        random_state=seed,
        stratify=digits.target,
    )
    return (x_train, y_train), (x_test, y_test)


# -- MNIST (the 10k test split) ----------------------------------------------

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# sha256 of the decompressed IDX files (the official MNIST content).
MNIST_FILES = {
    "mnist/t10k-images-idx3-ubyte.gz": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        True,
    ),
    "mnist/t10k-labels-idx1-ubyte.gz": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        True,
    ),
}
MNIST_TRAIN_SIZE = 8000


def _read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = np.frombuffer(data[:4], ">i4")[0]
    if header != magic:
        raise ValueError(f"{path} is not an IDX file with magic {magic}")
    if magic == 2051:
        count, rows, cols = np.frombuffer(data[4:16], ">i4")
        return np.frombuffer(data[16:], "uint8").reshape(count, rows, cols)
    return np.frombuffer(data[8:], "uint8")


def _download_mnist(folder):
    paths = {}
    for rel in MNIST_FILES:
        paths[rel] = _fetch(MNIST_URL + pathlib.Path(rel).name, folder / rel)
        expected, _ = MNIST_FILES[rel]
        if sha256(paths[rel], decompress=True) != expected:
            raise ValueError(f"checksum mismatch for {paths[rel]}")
    return paths


def load_mnist(data_dir=None):
    """The 10,000-image MNIST t10k split, cut by index: images 0-7,999 for
    training and 8,000-9,999 for testing (`(n, 28, 28, 1)` uint8).

    Only t10k is used so that the recipe runs from the project's local
    data folder; the 60k training split is not needed.
    """
    paths = locate("mnist", MNIST_FILES, data_dir, _download_mnist)
    images = _read_idx(paths["mnist/t10k-images-idx3-ubyte.gz"], 2051)
    labels = _read_idx(paths["mnist/t10k-labels-idx1-ubyte.gz"], 2049)
    images, labels = images[..., None], labels.astype("int32")
    n = MNIST_TRAIN_SIZE
    return (images[:n], labels[:n]), (images[n:], labels[n:])


# -- CIFAR-10 ------------------------------------------------------------------

CIFAR10_JPEG_FILES = {
    "cifar10-jpeg/train.tar.gz": (
        "ce19cfd48221e91a4cb100e2506cce8fea36caa534f9b99d7748549153d7592d",
        False,
    ),
    "cifar10-jpeg/test.tar.gz": (
        "6e9a9a38d8575e9a444a2bb1118f130db6dd70067379b40777c9f1c681916d0f",
        False,
    ),
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"


def _read_jpeg_tar(path):
    """All `split/<class>/NNNN.jpg` members, decoded, in member order."""
    from PIL import Image

    images, labels = [], []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".jpg"):
                continue
            label = CIFAR10_CLASSES.index(member.name.split("/")[-2])
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                images.append(np.asarray(im.convert("RGB")))
            labels.append(label)
    return np.stack(images), np.asarray(labels, "int32")


def _read_python_tar(path):
    """The official pickled batches (the download source)."""
    splits = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            name = member.name.rsplit("/", 1)[-1]
            if name.startswith("data_batch") or name == "test_batch":
                batch = pickle.load(  # noqa: S301 (checksummed archive)
                    tar.extractfile(member), encoding="bytes"
                )
                x = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                y = np.asarray(batch[b"labels"], "int32")
                key = "test" if name == "test_batch" else "train"
                splits[key].append((name, x, y))
    out = []
    for key in ("train", "test"):
        parts = sorted(splits[key], key=lambda part: part[0])
        out.append(
            (
                np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]),
            )
        )
    return tuple(out)


def load_cifar10(data_dir=None):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 RGB images
    (`(n, 32, 32, 3)` uint8, labels 0-9 in the standard class order).

    Reads the JPEG tarballs of a local data folder when present; otherwise
    downloads the official archive (md5 checked). Decoded arrays are cached
    next to the tarballs' search folder in `~/.keras/datasets` as `.npz`.
    """
    cache = dataset_files.DEFAULT_DIR / "cifar10-jpeg-decoded.npz"
    try:
        paths = locate("cifar10", CIFAR10_JPEG_FILES, data_dir, download=None)
    except DatasetNotFoundError as not_found:
        try:
            archive = _fetch(
                CIFAR10_URL,
                dataset_files.DEFAULT_DIR / "cifar-10-python.tar.gz",
                md5=CIFAR10_MD5,
            )
        except Exception as e:
            raise not_found_error(
                "cifar10", list(CIFAR10_JPEG_FILES), search_dirs(data_dir), e
            ) from not_found
        return _read_python_tar(archive)
    key = sha256(paths["cifar10-jpeg/test.tar.gz"])[:16]
    if cache.is_file():
        with np.load(cache) as arrays:
            if str(arrays["key"]) == key:
                return (arrays["x_train"], arrays["y_train"]), (
                    arrays["x_test"],
                    arrays["y_test"],
                )
    train = _read_jpeg_tar(paths["cifar10-jpeg/train.tar.gz"])
    test = _read_jpeg_tar(paths["cifar10-jpeg/test.tar.gz"])
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            key=key,
            x_train=train[0],
            y_train=train[1],
            x_test=test[0],
            y_test=test[1],
        )
    except OSError:
        pass  # a read-only home only costs the decoding next time
    return train, test


# -- Multi30k ------------------------------------------------------------------

MULTI30K_URL = (
    "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
)
MULTI30K_SPLITS = {
    "train": "train",
    "val": "val",
    "test2016": "test_2016_flickr",
}
MULTI30K_LANGUAGES = ("de", "en")
MULTI30K_FILES = {
    "multi30k/task1/raw/test_2016_flickr.de.gz": (
        "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
        False,
    ),
    "multi30k/task1/raw/test_2016_flickr.en.gz": (
        "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
        False,
    ),
    "multi30k/task1/raw/train.de.gz": (
        "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
        False,
    ),
    "multi30k/task1/raw/train.en.gz": (
        "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
        False,
    ),
    "multi30k/task1/raw/val.de.gz": (
        "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
        False,
    ),
    "multi30k/task1/raw/val.en.gz": (
        "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
        False,
    ),
}


def _download_multi30k(folder):
    paths = {}
    for rel, (expected, _) in MULTI30K_FILES.items():
        paths[rel] = _fetch(MULTI30K_URL + pathlib.Path(rel).name, folder / rel)
        if sha256(paths[rel]) != expected:
            raise ValueError(f"checksum mismatch for {paths[rel]}")
    return paths


def _read_lines(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def load_multi30k(src="de", tgt="en", data_dir=None):
    """Multi30k task 1 sentence pairs, cased and untokenized (the `raw`
    files): `{"train": (sources, targets), "val": ..., "test2016": ...}`
    with 29,000 / 1,014 / 1,000 pairs of strings."""
    for name, lang in (("src", src), ("tgt", tgt)):
        if lang not in MULTI30K_LANGUAGES:
            raise ValueError(
                f"`{name}` must be one of {MULTI30K_LANGUAGES}. "
                f"Received: {name}={lang!r}"
            )
    if src == tgt:
        raise ValueError(
            f"`src` and `tgt` must differ. Received: src={src!r}, tgt={tgt!r}"
        )
    paths = locate("multi30k", MULTI30K_FILES, data_dir, _download_multi30k)
    splits = {}
    for split, stem in MULTI30K_SPLITS.items():
        sources, targets = (
            _read_lines(paths[f"multi30k/task1/raw/{stem}.{lang}.gz"])
            for lang in (src, tgt)
        )
        if len(sources) != len(targets):
            raise ValueError(
                f"Multi30k {split}: {len(sources)} {src} lines but "
                f"{len(targets)} {tgt} lines."
            )
        splits[split] = (sources, targets)
    return splits


# -- Tiny Shakespeare --------------------------------------------------------

SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
    "tinyshakespeare/input.txt"
)
SHAKESPEARE_FILES = {
    "tinyshakespeare/input.txt": (
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        False,
    ),
}
SHAKESPEARE_TRAIN_FRACTION = 0.9


def _download_shakespeare(folder):
    rel = "tinyshakespeare/input.txt"
    path = _fetch(SHAKESPEARE_URL, folder / rel)
    if sha256(path) != SHAKESPEARE_FILES[rel][0]:
        raise ValueError(f"checksum mismatch for {path}")
    return {rel: path}


def load_shakespeare(data_dir=None):
    """Tiny Shakespeare (char-rnn's `input.txt`, 1,115,394 characters) as
    `{"train": text, "val": text}`: the first 90% of the characters and
    the last 10% (1,003,854 and 111,540), nanoGPT's split."""
    paths = locate(
        "shakespeare", SHAKESPEARE_FILES, data_dir, _download_shakespeare
    )
    text = paths["tinyshakespeare/input.txt"].read_text(encoding="utf-8")
    cut = int(len(text) * SHAKESPEARE_TRAIN_FRACTION)
    return {"train": text[:cut], "val": text[cut:]}


LOADERS = {
    "digits": lambda data_dir=None: load_digits(),
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "multi30k": load_multi30k,
    "shakespeare": load_shakespeare,
}


def load(name, data_dir=None, **kwargs):
    """The named dataset: `(x_train, y_train), (x_test, y_test)` for the
    image datasets; for Multi30k, see `load_multi30k` (`src`, `tgt`)."""
    if name not in LOADERS:
        raise ValueError(
            f"Unknown dataset. Expected one of {sorted(LOADERS)}. "
            f"Received: dataset={name!r}"
        )
    return LOADERS[name](data_dir=data_dir, **kwargs)
