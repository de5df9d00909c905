"""`python -m zoo train translation|gpt --dataset custom --data GLOB` and
`python -m zoo prepare` end to end, and their errors for bad input."""

import functools
import gzip
import json
import os
import pathlib

import pytest

from tests.zoo.test_streaming import SAMPLE
from tests.zoo.test_streaming import sample_pairs
from tests.zoo.test_streaming import write_text
from tests.zoo.test_streaming import write_tsv
from zoo.__main__ import main
from zoo.__main__ import run


def train(task, data, out, *extra):
    """`python -m zoo train TASK` on `data`: one epoch of two steps of
    the tiny preset."""
    epoch = (
        ["--epochs", "1"] if task == "translation" else ["--iterations", "10"]
    )
    return [
        "train",
        task,
        "--dataset",
        "custom",
        "--data",
        str(data),
        "--preset",
        "custom-tiny",
        "--steps-per-epoch",
        "2",
        *epoch,
        "--no-jit",
        "--out",
        str(out),
        *extra,
    ]


train_translation = functools.partial(train, "translation")
train_gpt = functools.partial(train, "gpt")


@pytest.fixture(scope="module")
def tsv(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return write_tsv(root, sample_pairs("train"))


def test_translation_trains_on_a_tsv_glob_and_records_it(tsv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_translation(tsv, out, "--val-fraction", "0.1")) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["dataset"] == "custom" and config["src"] is None
    corpus = config["corpus"]
    assert corpus["data"] == tsv and corpus["val_fraction"] == 0.1
    listed = {pathlib.Path(p).name: size for p, size in corpus["files"]}
    assert listed == {
        f"part{k}.tsv": (pathlib.Path(tsv).parent / f"part{k}.tsv")
        .stat()
        .st_size
        for k in range(3)
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["val_loss"] > 0
    assert 0 <= metrics["val_bleu"] <= 100
    hypotheses = (out / "val.hyp.txt").read_text().splitlines()
    assert len(hypotheses) == metrics["sentences"] > 20
    for name in ("tokenizer_source", "tokenizer_target"):
        assert (out / name / "vocabulary.txt").is_file()
    # The run is finished: the same command says so; another corpus is
    # another run, named by the file that changed.
    capsys.readouterr()
    assert run(train_translation(tsv, out, "--val-fraction", "0.1")) == 0
    assert "holds a finished run" in capsys.readouterr().out
    other = pathlib.Path(tsv).parent / "part1.tsv"
    with other.open("a", encoding="utf-8") as f:
        f.write("Ein Hund.\tA dog.\n")
    try:
        assert run(train_translation(tsv, out, "--val-fraction", "0.1")) == 2
        err = capsys.readouterr().err
        assert "other settings (corpus.files:" in err and "part1.tsv" in err
    finally:
        lines = other.read_text(encoding="utf-8").splitlines(keepends=True)
        other.write_text("".join(lines[:-1]), encoding="utf-8")
    # evaluate scores the run's own validation lines again.
    assert main(["evaluate", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["val_bleu"] == metrics["val_bleu"]


def test_gpt_trains_on_a_text_glob_and_evaluates(tmp_path, capsys):
    text = (SAMPLE / "tinyshakespeare" / "input.txt").read_text()
    data = write_text(tmp_path / "books", text)
    head = text[: text.index("\n", 4000) + 1]  # whole lines
    val = write_text(tmp_path / "val", head, parts=1)
    out = tmp_path / "run"
    assert main(train_gpt(data, out, "--val-data", val)) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["corpus"]["val_data"] == val
    assert len(config["corpus"]["files"]) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_tokens"] == (len(head) - 1) // 32 * 32
    assert (out / "sample.txt").read_text().startswith("\n")
    characters = json.loads((out / "tokenizer" / "characters.json").read_text())
    assert "\ufffd" in characters
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    loss = json.loads((out / "metrics.json").read_text())["val_loss"]
    assert loss == pytest.approx(metrics["val_loss"], rel=1e-5)


def test_training_on_prepared_shards(tsv, tmp_path, capsys):
    shards = tmp_path / "shards"
    prepare = ["prepare", "translation", "--data", tsv, "--out", str(shards)]
    assert main(prepare) == 0
    assert "python -m zoo train translation" in capsys.readouterr().out
    out = tmp_path / "run"
    glob = str(shards / "*.tfrecord")
    assert main(train_translation(glob, out, "--no-bleu")) == 0
    corpus = json.loads((out / "config.json").read_text())["corpus"]
    assert corpus["format"] == "tfrecord" and corpus["val_files"]
    # The vocabularies are those training on the text files learns (from
    # the sample of its checking pass, seed 0).
    from zoo import corpus_files
    from zoo import scan
    from zoo.translation import data
    from zoo.translation import stream
    from zoo.translation.config import PRESETS

    found = scan.scan(corpus_files.open_corpus("pairs", tsv), 0, verbose=False)
    raw = tmp_path / "raw"
    tokenizers = data.tokenizers_for(
        raw, PRESETS["custom-tiny"], stream.sample_pairs(found.sample), False
    )
    assert tokenizers[0].vocab_size > 100
    for name in ("tokenizer_source", "tokenizer_target"):
        vocabulary = (out / name / "vocabulary.txt").read_text()
        assert vocabulary == (raw / name / "vocabulary.txt").read_text()
    # The folder is whole or absent: a second prepare into it is refused.
    assert run(prepare) == 2
    assert "is not empty" in capsys.readouterr().err


def bad(folder, name, content):
    path = folder / name
    path.write_bytes(content)
    return str(path)


# A gzip file cut short (TensorFlow alone reads the part that is there).
CUT_GZIP = gzip.compress(b"".join(b"%d\t%d\n" % (i, i) for i in range(9999)))
CUT_GZIP = CUT_GZIP[: len(CUT_GZIP) // 2]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"Ein Hund.\tA dog.\nEin Hund. A dog.\n", "line 2: no tab"),
        (b"a\tb\nc\td\ne\tf\tg\n", "line 3: 2 tabs"),
        (b"a\tb\n \tA dog.\n", "line 2: the source is empty"),
        (b"Ein Hund.\tA dog.\nEin K\xe4se.\tA cheese.\n", "line 2: not UTF-8"),
        (b"", "is empty"),
        (b"\x1f\x8b\x08\x00 not gzip", "zbad.tsv.gz cannot be read"),
        (CUT_GZIP, "zbad.tsv.gz cannot be read"),
    ],
    ids=["no-tab", "2-tabs", "empty", "utf-8", "0-bytes", "gzip", "cut"],
)
def test_bad_tsv_names_its_file_and_line(tmp_path, capsys, content, message):
    data = tmp_path / "data"
    data.mkdir()
    write_tsv(data, sample_pairs("train"), parts=2)
    name = "zbad.tsv.gz" if content.startswith(b"\x1f\x8b") else "zbad.tsv"
    path = bad(data, name, content)
    glob = str(data / "*.tsv*")
    out = tmp_path / "run"
    assert run(train_translation(glob, out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and path in err
    assert "Traceback" not in err and not out.exists()
    # prepare stops at the same line and leaves nothing behind.
    shards = tmp_path / "shards"
    prepare = ["prepare", "translation", "--data", glob, "--out", shards]
    assert run([str(word) for word in prepare]) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["data"]


def test_bad_text_names_its_line(tmp_path, capsys):
    lines = b"".join(b"line %d\n" % i for i in range(70))
    path = bad(tmp_path, "book.txt", lines + b"caf\xe9\n")
    assert run(train_gpt(path, tmp_path / "run")) == 2
    assert f"{path}, line 71: not UTF-8" in capsys.readouterr().err


def test_corpus_options_are_checked(tsv, tmp_path, capsys):
    missing = str(tmp_path / "nothing" / "*.tsv")
    link = tmp_path / "gone.tsv"
    os.symlink(tmp_path / "nowhere.tsv", link)
    text = bad(tmp_path, "a.txt", b"some text\n")
    for argv, message in [
        (train_translation(missing, tmp_path / "r"), "matches no file"),
        (train_translation(link, tmp_path / "r"), "cannot be read"),
        (train_translation(tmp_path, tmp_path / "r"), "is a folder"),
        (
            ["train", "translation", "--dataset", "multi30k", "--data", tsv],
            "--data is for your own corpus: give it with --dataset custom",
        ),
        (
            ["train", "gpt", "--dataset", "custom"],
            "--dataset custom needs --data GLOB",
        ),
        (
            train_translation(tsv, tmp_path / "r", "--src", "en"),
            "the first column of each line is the source",
        ),
        (
            train_translation(tsv, tmp_path / "r", "--data-dir", tmp_path),
            "--data-dir is where the built-in datasets are",
        ),
        (
            train_translation(tsv, tmp_path / "r", "--val-data", text)
            + ["--val-fraction", "0.1"],
            "Give --val-data or --val-fraction, not both",
        ),
        (
            train_translation(tsv, tmp_path / "r", "--val-data", tsv),
            "validation files must not be trained on",
        ),
        (
            train_gpt(text, tmp_path / "r", "--val-fraction", "0.01"),
            "holds out none of the 1 blocks of lines",
        ),
        (
            ["tune", "translation", "--dataset", "custom"],
            "this command does not take them",
        ),
        (
            ["prepare", "gpt", "--data", tsv, "--out", tmp_path / "s"]
            + ["--shard-size", "0.00001"],
            "more than 1000",
        ),
    ]:
        assert run([str(a) for a in argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_shards_are_checked_against_their_manifest(tsv, tmp_path, capsys):
    shards = tmp_path / "shards"
    assert main(["prepare", "gpt", "--data", tsv, "--out", str(shards)]) == 0
    glob = str(shards / "*.tfrecord")
    assert run(train_translation(glob, tmp_path / "r")) == 2
    assert "not of this task's (pairs)" in capsys.readouterr().err
    assert run(train_gpt(glob, tmp_path / "r", "--val-fraction", "0.1")) == 2
    assert "fixed by `python -m zoo prepare`" in capsys.readouterr().err
    with (shards / "train-00000.tfrecord").open("ab") as f:
        f.write(b"extra")
    assert run(train_gpt(glob, tmp_path / "r")) == 2
    assert "the shard was changed or cut short" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    bad(mixed, "a.tfrecord", b"x")
    bad(mixed, "b.txt", b"x")
    assert run(train_gpt(str(mixed / "*"), tmp_path / "r")) == 2
    assert "both .tfrecord shards and other files" in capsys.readouterr().err
    assert run(train_gpt(str(mixed / "*.tfrecord"), tmp_path / "r")) == 2
    assert "has no manifest.json" in capsys.readouterr().err


def test_prepare_help(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["prepare", "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "usage: python -m zoo prepare" in out and "--shard-size MB" in out
