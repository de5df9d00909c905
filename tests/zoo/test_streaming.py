"""Streamed corpora (`--dataset custom --data GLOB`): the pipelines give the
ids that tokenizing the same lines in memory gives, the validation split
is a partition, and `python -m zoo prepare` shards stream the same units,
split and vocabulary sample as their text files."""

import dataclasses
import gzip
import pathlib

import numpy as np
import pytest

from zoo import corpus_files
from zoo import scan as scan_lib
from zoo.gpt import data as gpt_data
from zoo.gpt import stream as gpt_stream
from zoo.translation import data as tr_data
from zoo.translation import stream as tr_stream
from zoo.translation.config import PRESETS as TRANSLATION

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "data"


def sample_pairs(split="train"):
    """The committed Multi30k-like sample's German/English pairs."""
    raw = SAMPLE / "multi30k" / "task1" / "raw"
    sides = [
        gzip.open(raw / f"{split}.{lang}.gz", "rt", encoding="utf-8")
        .read()
        .splitlines()
        for lang in ("de", "en")
    ]
    return list(zip(*sides, strict=True))


def write_tsv(folder, pairs, parts=3):
    """`pairs` as `parts` TSV files in `folder`; their glob."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(parts):
        lines = [f"{s}\t{t}\n" for s, t in pairs[k::parts]]
        (folder / f"part{k}.tsv").write_text("".join(lines), encoding="utf-8")
    return str(folder / "*.tsv")


def read_tsv(glob):
    """(sources, targets) of the files of `glob`, file after file."""
    sources, targets = [], []
    for path in sorted(pathlib.Path(glob).parent.glob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            source, target = line.split("\t")
            sources.append(source)
            targets.append(target)
    return sources, targets


def listed(dataset):
    return [
        tuple(np.asarray(part).tolist() for part in element)
        for element in dataset.as_numpy_iterator()
    ]


TINY = dataclasses.replace(TRANSLATION["custom-tiny"], vocab_size=300)


@pytest.fixture(scope="module")
def tsv_corpus(tmp_path_factory):
    """Training TSVs and a validation TSV, their corpus and tokenizers."""
    root = tmp_path_factory.mktemp("tsv")
    data = write_tsv(root / "train", sample_pairs("train"))
    val = write_tsv(root / "val", sample_pairs("val"), parts=1)
    corpus = corpus_files.open_corpus("pairs", data, val_data=val)
    scan = scan_lib.scan(corpus, seed=0, verbose=False)
    tokenizers = tr_data.build_tokenizers(
        TINY, *tr_stream.sample_pairs(scan.sample), verbose=False
    )
    return data, corpus, scan, tokenizers


def test_streamed_pairs_are_the_in_memory_ids(tsv_corpus):
    data, corpus, scan, tokenizers = tsv_corpus
    assert scan.units == {"train": 400, "val": 60}
    streamed = listed(
        tr_stream.encoded(corpus.units("train"), tokenizers, TINY.max_length)
    )
    src, tgt, dropped = tr_data.encode_pairs(
        tokenizers, *read_tsv(data), TINY.max_length
    )
    assert dropped < 400
    assert streamed == list(zip(src.to_list(), tgt.to_list(), strict=True))


def test_streamed_batches_are_the_in_memory_batches(tsv_corpus):
    """Unshuffled, the streamed batches are the recipe's own batches of
    the same ids (padding, bucket lengths and sizes), in another order."""
    data, corpus, _, tokenizers = tsv_corpus
    pairs = tr_stream.encoded(corpus.units("train"), tokenizers, 48)
    streamed = tr_stream.batches(pairs, batch_tokens=256, train=False)
    src, tgt, _ = tr_data.encode_pairs(tokenizers, *read_tsv(data), 48)
    planned = tr_data.batches(src, tgt, batch_tokens=256).dataset()

    def flat(dataset):
        return sorted(
            (s.shape, s.tobytes(), i.tobytes(), o.tobytes())
            for (s, i), o in dataset.as_numpy_iterator()
        )

    assert len(flat(planned)) > 5
    assert flat(streamed) == flat(planned)


def test_shuffled_training_stream_holds_every_pair(tsv_corpus):
    _, corpus, _, _ = tsv_corpus
    once = listed(corpus.units("train"))
    shuffled = listed(corpus.units("train", shuffle_seed=3).take(400))
    assert shuffled != once and sorted(shuffled) == sorted(once)
    again = listed(corpus.units("train", shuffle_seed=3).take(400))
    assert again == shuffled  # seeded
    # Endless (the shuffle buffer mixes consecutive passes).
    endless = corpus.units("train", shuffle_seed=3, repeat=True).take(900)
    passes = listed(endless)
    assert len(passes) == 900 and set(passes) <= set(once)


def test_gzipped_files_read_as_their_text(tsv_corpus, tmp_path):
    data, corpus, _, _ = tsv_corpus
    plain = sorted(pathlib.Path(data).parent.glob("*.tsv"))[0]
    (tmp_path / "part.tsv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    zipped = corpus_files.open_corpus(
        "pairs", str(tmp_path / "*.gz"), val_data=str(plain)
    )
    units = listed(zipped.units("train").map(lambda u: (u,)))
    assert units == listed(zipped.units("val").map(lambda u: (u,)))


def test_held_out_lines_are_a_partition(tmp_path):
    pairs = sample_pairs("train")
    data = write_tsv(tmp_path, pairs)
    corpus = corpus_files.open_corpus("pairs", data, val_fraction=0.2)
    train = [u for (u,) in listed(corpus.units("train").map(lambda u: (u,)))]
    val = [u for (u,) in listed(corpus.units("val").map(lambda u: (u,)))]
    every = sorted(f"{s}\t{t}".encode() for s, t in pairs)
    assert sorted(train + val) == every
    assert not set(train) & set(val)
    assert 40 <= len(val) <= 120  # about 20% of 400
    scan = scan_lib.scan(corpus, seed=0, verbose=False)
    assert scan.units == {"train": len(train), "val": len(val)}
    # The sample is drawn from the training lines only, seeded.
    assert set(scan.sample) <= {u.decode() for u in train}
    small = scan_lib.scan(corpus, seed=0, verbose=False, sample_size=50)
    other = scan_lib.scan(corpus, seed=1, verbose=False, sample_size=50)
    assert len(small.sample) == 50 and small.sample != other.sample
    again = scan_lib.scan(corpus, seed=0, verbose=False, sample_size=50)
    assert again.sample == small.sample


def write_text(folder, text, parts=3):
    """`text` cut at line ends into `parts` files; their glob."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = text.splitlines(keepends=True)
    size = -(-len(lines) // parts)
    for k in range(parts):
        chunk = "".join(lines[k * size : (k + 1) * size])
        (folder / f"book{k}.txt").write_text(chunk, encoding="utf-8")
    return str(folder / "*.txt")


def test_streamed_windows_are_the_in_memory_windows(tmp_path):
    text = (SAMPLE / "tinyshakespeare" / "input.txt").read_text()
    data = write_text(tmp_path / "train", text)
    val = write_text(tmp_path / "val", text[:3000], parts=1)
    corpus = corpus_files.open_corpus("text", data, val_data=val)
    scan = scan_lib.scan(corpus, seed=0, verbose=False)
    tokenizer = gpt_stream.tokenizer_for(tmp_path, scan, verbose=False)
    streamed = listed(gpt_stream.windows(corpus.units("train"), tokenizer, 16))
    ids = np.asarray(tokenizer.tokenize(text).flat_values, "int32")
    in_memory = listed(gpt_data.all_windows(ids, 16).unbatch())
    assert len(streamed) == (len(ids) - 1) // 16
    assert streamed == in_memory
    val_batches = gpt_stream.val_windows(corpus, tokenizer, 16)
    ids = np.asarray(tokenizer.tokenize(text[:3000]).flat_values, "int32")
    x = np.concatenate([x for x, _ in listed(val_batches)])
    y = np.concatenate([y for _, y in listed(val_batches)])
    assert np.array_equal(x.ravel(), ids[: x.size])
    assert np.array_equal(y.ravel(), ids[1 : x.size + 1])


def test_unseen_characters_become_the_replacement(tmp_path):
    data = write_text(tmp_path, "abc ab\n" * 50 + "zz\n", parts=1)
    corpus = corpus_files.open_corpus("text", data, val_fraction=0.5)
    scan = scan_lib.Scan(corpus, {}, {}, ["ab c\n"])
    tokenizer = gpt_stream.tokenizer_for(tmp_path, scan, verbose=False)
    assert tokenizer.characters == ["\n", " ", "a", "b", "c", "\ufffd"]
    replace = gpt_stream.known_characters(tokenizer)
    assert replace(["zab\u00e9\n"]).numpy()[0].decode() == "\ufffdab\ufffd\n"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Three TSVs, and the shards `zoo prepare` wrote of them."""
    from zoo.prepare import prepare_main

    root = tmp_path_factory.mktemp("prepare")
    data = write_tsv(root / "text", sample_pairs("train"))
    manifest = prepare_main(
        [
            "translation",
            "--data",
            data,
            "--out",
            str(root / "shards"),
            "--val-fraction",
            "0.1",
            "--shard-size",
            "0.01",
        ]
    )
    return data, root / "shards", manifest


def test_prepared_shards_stream_the_same_units(prepared):
    data, shards, manifest = prepared
    count = len(manifest["train"]["shards"])
    assert count == 3  # 28 kB of training text in shards of 10 kB
    text = corpus_files.open_corpus("pairs", data, val_fraction=0.1)
    sharded = corpus_files.open_corpus("pairs", str(shards / "*.tfrecord"))
    assert sharded.format == "tfrecord" and len(sharded.files) == count
    # Training units: the same ones, in another order (scattered).
    raw_train = listed(text.units("train").map(lambda u: (u,)))
    shard_train = listed(sharded.units("train").map(lambda u: (u,)))
    assert shard_train != raw_train and sorted(shard_train) == sorted(raw_train)
    # Validation units: the same ones, in the same order.
    assert listed(sharded.units("val").map(lambda u: (u,))) == listed(
        text.units("val").map(lambda u: (u,))
    )
    # The same sample, so the same vocabularies and the same ids.
    raw_scan = scan_lib.scan(text, seed=0, verbose=False)
    shard_scan = scan_lib.survey(sharded, seed=5, verbose=False)
    assert shard_scan.sample == raw_scan.sample
    assert shard_scan.units == raw_scan.units
    assert shard_scan.characters == raw_scan.characters
    tokenizers = tr_data.build_tokenizers(
        TINY, *tr_stream.sample_pairs(shard_scan.sample), verbose=False
    )
    raw_ids = listed(tr_stream.encoded(text.units("train"), tokenizers, 48))
    shard_ids = listed(
        tr_stream.encoded(sharded.units("train"), tokenizers, 48)
    )
    assert len(raw_ids) > 300 and sorted(shard_ids) == sorted(raw_ids)


def test_a_subset_of_the_shards_trains_on_its_part(prepared):
    _, shards, manifest = prepared
    first = corpus_files.open_corpus("pairs", str(shards / "train-00000*"))
    assert len(first.files) == 1 and len(first.val_files) == 1
    survey = scan_lib.survey(first, seed=0, verbose=False)
    assert survey.units["train"] == manifest["train"]["shards"][0]["units"]
