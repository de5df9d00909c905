import gzip
import shutil

import numpy as np
import pytest

from zoo import dataset_files
from zoo import datasets


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """No network and an empty ~/.keras/datasets."""

    def refuse(url, target, md5=None):
        raise ConnectionError(f"no network for {url}")

    monkeypatch.setattr(datasets, "_fetch", refuse)
    monkeypatch.setattr(
        dataset_files, "DEFAULT_DIR", tmp_path / "home-datasets"
    )
    monkeypatch.delenv(datasets.DATA_ENV, raising=False)


@pytest.mark.parametrize(
    "name", ["mnist", "cifar10", "multi30k", "shakespeare"]
)
def test_not_found_says_where_it_looked(no_download, tmp_path, name):
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load(name, data_dir=tmp_path / "empty")
    message = str(error.value)
    assert str(tmp_path / "empty") in message
    assert str(tmp_path / "home-datasets") in message
    assert "--data-dir" in message and datasets.DATA_ENV in message
    assert "no network" in message


def test_environment_variable_is_searched(no_download, monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "from-env"))
    with pytest.raises(datasets.DatasetNotFoundError, match="from-env"):
        datasets.load_mnist()


@pytest.mark.data
def test_damaged_file_fails_its_checksum(data_dir, tmp_path):
    (tmp_path / "mnist").mkdir()
    for rel in datasets.MNIST_FILES:
        shutil.copy(data_dir / rel, tmp_path / rel)
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(labels, "wb") as f:
        f.write(b"not mnist")
    with pytest.raises(ValueError, match="Checksum mismatch"):
        datasets.load_mnist(data_dir=tmp_path)


@pytest.mark.data
def test_mnist_split_by_index(data_dir):
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(data_dir)
    assert x_train.shape == (8000, 28, 28, 1) and x_test.shape == (
        2000,
        28,
        28,
        1,
    )
    assert x_train.dtype == np.uint8
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    # The t10k class counts published with MNIST.
    assert counts.tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_digits_split_is_fixed_and_stratified():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    assert x_train.shape == (1437, 8, 8, 1) and x_test.shape == (360, 8, 8, 1)
    assert x_train.max() == 255
    again = datasets.load_digits()
    np.testing.assert_array_equal(again[1][1], y_test)


@pytest.mark.data
def test_cifar10_jpeg_reader(data_dir):
    images, labels = datasets._read_jpeg_tar(
        data_dir / "cifar10-jpeg" / "test.tar.gz"
    )
    assert images.shape == (10000, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"dataset='svhn'"):
        datasets.load("svhn")


@pytest.mark.data
def test_multi30k_splits_are_aligned(data_dir):
    splits = datasets.load_multi30k("de", "en", data_dir=data_dir)
    sizes = {name: len(pair[0]) for name, pair in splits.items()}
    assert sizes == {"train": 29000, "val": 1014, "test2016": 1000}
    for sources, targets in splits.values():
        assert len(sources) == len(targets)
    # test2016's first pair, as in the published files.
    src, tgt = splits["test2016"][0][0], splits["test2016"][1][0]
    assert src.startswith("Ein Mann mit einem orangefarbenen Hut")
    assert tgt.startswith("A man in an orange hat")
    reverse = datasets.load_multi30k("en", "de", data_dir=data_dir)
    assert reverse["val"][0] == splits["val"][1]
    with pytest.raises(ValueError, match="fr"):
        datasets.load_multi30k("de", "fr", data_dir=data_dir)


@pytest.mark.data
def test_shakespeare_is_split_as_nanogpt_does(data_dir):
    from keras_transformer.text import CharTokenizer

    text = datasets.load_shakespeare(data_dir=data_dir)
    assert (len(text["train"]), len(text["val"])) == (1_003_854, 111_540)
    assert text["train"].startswith("First Citizen:\nBefore we proceed")
    tokenizer = CharTokenizer.from_text(text["train"] + text["val"])
    assert tokenizer.vocab_size == 65
    assert tokenizer.characters[:3] == ["\n", " ", "!"]


def test_a_declared_sample_loads_and_says_so(sample_dir, capsys):
    splits = datasets.load_multi30k("de", "en", data_dir=sample_dir)
    sizes = {name: len(pair[0]) for name, pair in splits.items()}
    assert sizes == {"train": 400, "val": 60, "test2016": 60}
    assert "Reading a sample of 'multi30k'" in capsys.readouterr().out
    text = datasets.load_shakespeare(data_dir=sample_dir)
    assert (
        text["train"][-20:] + text["val"][:20]
        in (sample_dir / "tinyshakespeare" / "input.txt").read_text()
    )


def test_a_damaged_sample_fails_its_manifest(sample_dir, tmp_path):
    shutil.copytree(sample_dir, tmp_path / "copy")
    path = tmp_path / "copy" / "tinyshakespeare" / "input.txt"
    path.write_text(path.read_text() + "extra\n")
    with pytest.raises(ValueError, match="Checksum mismatch.*SAMPLE.json"):
        datasets.load_shakespeare(data_dir=tmp_path / "copy")


def test_a_sample_manifest_must_list_the_dataset_files(sample_dir, tmp_path):
    import json

    shutil.copytree(sample_dir, tmp_path / "copy")
    manifest = tmp_path / "copy" / "SAMPLE.json"
    entries = json.loads(manifest.read_text())
    del entries["multi30k"]["files"]["multi30k/task1/raw/val.en.gz"]
    manifest.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="declares a sample of 'multi30k'"):
        datasets.load_multi30k(data_dir=tmp_path / "copy")
    # Without a manifest the folder is held to the published checksums.
    manifest.unlink()
    with pytest.raises(ValueError, match="Checksum mismatch"):
        datasets.load_multi30k(data_dir=tmp_path / "copy")


def test_the_samples_are_what_their_script_writes(sample_dir):
    """tests/data is reproducible: make_samples.py writes these bytes."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location(
        "make_samples", sample_dir / "make_samples.py"
    )
    make_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_samples)
    files = make_samples.contents()
    for rel, data in files.items():
        assert (sample_dir / rel).read_bytes() == data, rel
    manifest = json.loads((sample_dir / "SAMPLE.json").read_text())
    assert manifest == make_samples.manifest(files)
