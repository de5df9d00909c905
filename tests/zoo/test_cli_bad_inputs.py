"""User mistakes on every `python -m zoo` command: exit status 2, one line
naming what is wrong, no traceback, and nothing written. Also: a failed
start leaves the run directory as it was, a rerun with other settings
lists only the fields that differ, `--extend` continues a finished run,
and a damaged or foreign model.keras is named."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.zoo.conftest import ROOT
from zoo.__main__ import run

TRAIN_VIT = ["train", "vit", "--dataset", "digits"]
TINY_VIT = [*TRAIN_VIT, "--epochs", "2", "--steps-per-epoch", "2", "--no-jit"]
TRAIN_GPT = ["train", "gpt", "--dataset", "shakespeare"]
TRAIN_TR = ["train", "translation", "--dataset", "multi30k"]
TUNE_VIT = ["tune", "vit", "--dataset", "digits"]


def listing(folder):
    """Every file under `folder` with its bytes: what "as it was" means."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def fake_run(folder, task, **record):
    """A folder with only a config.json: enough for the commands whose
    options are checked before the run is loaded."""
    folder.mkdir(parents=True)
    config = {"task": task, "config": {}, "command": "python -m zoo train"}
    (folder / "config.json").write_text(json.dumps({**config, **record}))
    return folder


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert run([*TINY_VIT, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Files and folders the cases point at."""
    root = tmp_path_factory.mktemp("places")
    (root / "file.txt").write_text("not a folder")
    (root / "bad.json").write_text("{not json")
    (root / "empty.json").write_text("")
    (root / "list.json").write_text("[1, 2]")
    (root / "gpt-best.json").write_text(
        json.dumps({"task": "gpt", "dataset": "shakespeare", "preset": "x"})
    )
    best = {"task": "vit", "dataset": "digits", "preset": "digits-tiny"}
    for name, config in (
        ("heads", {"num_heads": 3}),
        ("dropout", {"dropout_rate": 2.0}),
        ("unknown", {"d_modle": 64}),
        ("layers", {"num_layers": 0}),
    ):
        (root / f"{name}.json").write_text(
            json.dumps({**best, "config": config})
        )
    (root / "bad-range.json").write_text(json.dumps({"d_model": {"low": 8}}))
    (root / "other").mkdir()
    (root / "other" / "notes.txt").write_text("someone's files")
    (root / "search").mkdir()
    (root / "search" / "tune.json").write_text(json.dumps({"task": "vit"}))
    fake_run(root / "gpt", "gpt")
    fake_run(root / "translation", "translation")
    fake_run(root / "vit-unfinished", "vit")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{")
    (root / "image.png").write_text("not an image")
    return root


# (arguments, what the one-line message must name); `{P}` is `places`.
CASES = [
    # python -m zoo
    (["fly"], "command"),
    (["train", "resnet"], "task"),
    # train vit
    ([*TRAIN_VIT, "--epochs", "0"], "--epochs"),
    ([*TRAIN_VIT, "--epochs", "-1"], "--epochs"),
    ([*TRAIN_VIT, "--epochs", "two"], "--epochs"),
    ([*TRAIN_VIT, "--batch-size", "0"], "--batch-size"),
    ([*TRAIN_VIT, "--learning-rate", "0"], "--learning-rate"),
    ([*TRAIN_VIT, "--learning-rate", "nan"], "--learning-rate"),
    ([*TRAIN_VIT, "--dropout-rate", "1"], "--dropout-rate"),
    ([*TRAIN_VIT, "--steps-per-epoch", "0"], "--steps-per-epoch"),
    ([*TRAIN_VIT, "--seed", "-1"], "--seed"),
    ([*TRAIN_VIT, "--cpu-replicas", "0"], "--cpu-replicas"),
    ([*TRAIN_VIT, "--out", "{P}/file.txt"], "--out"),
    ([*TRAIN_VIT, "--out", "{P}/other"], "--out"),
    ([*TRAIN_VIT, "--out", "{P}/search"], "--out"),
    ([*TRAIN_VIT, "--out", "{P}/gpt"], "--out"),
    ([*TRAIN_VIT, "--data-dir", "{P}/nowhere"], "--data-dir"),
    ([*TRAIN_VIT, "--hparams", "{P}/nowhere.json"], "--hparams"),
    ([*TRAIN_VIT, "--hparams", "{P}/bad.json"], "bad.json"),
    ([*TRAIN_VIT, "--hparams", "{P}/empty.json"], "--hparams"),
    ([*TRAIN_VIT, "--hparams", "{P}/list.json"], "--hparams"),
    ([*TRAIN_VIT, "--hparams", "{P}/gpt-best.json"], "--hparams"),
    ([*TRAIN_VIT, "--hparams", "{P}/heads.json"], "num_heads"),
    ([*TRAIN_VIT, "--hparams", "{P}/dropout.json"], "dropout_rate"),
    ([*TRAIN_VIT, "--hparams", "{P}/unknown.json"], "d_modle"),
    ([*TRAIN_VIT, "--hparams", "{P}/layers.json"], "num_layers"),
    ([*TRAIN_VIT, "--preset", "huge"], "--preset"),
    ([*TRAIN_VIT, "--preset", "mnist-small"], "--preset"),
    (["train", "vit", "--dataset", "svhn"], "--dataset"),
    ([*TRAIN_VIT, "--batch-size", "5000"], "--batch-size"),
    ([*TRAIN_VIT, "--extend", "--out", "{P}/new"], "--extend"),
    # train gpt and translation: refused before any data is read
    ([*TRAIN_GPT, "--iterations", "0"], "--iterations"),
    ([*TRAIN_GPT, "--iterations", "2010"], "--iterations"),
    ([*TRAIN_GPT, "--batch-size", "-4"], "--batch-size"),
    ([*TRAIN_GPT, "--out", "{P}/translation"], "--out"),
    ([*TRAIN_TR, "--epochs", "0"], "--epochs"),
    ([*TRAIN_TR, "--batch-tokens", "-5"], "--batch-tokens"),
    ([*TRAIN_TR, "--src", "fr"], "--src"),
    ([*TRAIN_TR, "--src", "en", "--tgt", "en"], "--src"),
    ([*TRAIN_TR, "--hparams", "{P}/bad.json"], "--hparams"),
    # tune
    (["tune", "--dataset", "digits"], "task"),
    ([*TUNE_VIT, "--max-trials", "0"], "--max-trials"),
    ([*TUNE_VIT, "--epochs-per-trial", "0"], "--epochs-per-trial"),
    ([*TUNE_VIT, "--executions-per-trial", "-1"], "--executions-per-trial"),
    ([*TUNE_VIT, "--steps-per-epoch", "0"], "--steps-per-epoch"),
    ([*TUNE_VIT, "--space", "{P}/bad.json"], "--space"),
    ([*TUNE_VIT, "--space", "{P}/nowhere.json"], "--space"),
    ([*TUNE_VIT, "--space", "{P}/list.json"], "--space"),
    ([*TUNE_VIT, "--space", "{P}/bad-range.json", "--out", "{P}/s"], "--space"),
    (["tune", "vit", "--dataset", "svhn"], "--dataset"),
    ([*TUNE_VIT, "--out", "{P}/vit-unfinished"], "--out"),
    ([*TUNE_VIT, "--out", "{P}/other"], "--out"),
    # evaluate
    (["evaluate", "{P}/nowhere"], "nowhere does not exist"),
    (["evaluate", "{P}/file.txt"], "file.txt is a file"),
    (["evaluate", "{P}/other"], "no config.json"),
    (["evaluate", "{P}/broken"], "config.json is not valid JSON"),
    (["evaluate", "{P}/vit-unfinished"], "has not finished"),
    (["evaluate", "{P}/translation", "--beam-size", "0"], "--beam-size"),
    (["evaluate", "--data-dir", "{P}/nowhere", "{P}/gpt"], "--data-dir"),
    # predict
    (["predict", "{P}/gpt", "{P}/image.png"], "does not apply"),
    (["predict", "{P}/vit-unfinished"], "images"),
    # translate
    (["translate", "{P}/translation", "Hallo", "--beam-size", "0"], "beam"),
    (["translate", "{P}/translation", "Hallo", "--beam-size", "x"], "beam"),
    (["translate", "{P}/translation", "  "], "Sentence 1 is empty"),
    (
        ["translate", "{P}/translation", "Hallo", "--plot", "{P}/no/a.png"],
        "--plot",
    ),
    (["translate", "{P}/gpt", "Hallo"], "does not apply"),
    # generate
    (["generate", "{P}/gpt", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["generate", "{P}/gpt", "--temperature", "-1"], "--temperature"),
    (["generate", "{P}/gpt", "--temperature", "inf"], "--temperature"),
    (["generate", "{P}/gpt", "--top-k", "0"], "--top-k"),
    (["generate", "{P}/gpt", "--top-p", "0"], "--top-p"),
    (["generate", "{P}/gpt", "--top-p", "1.5"], "--top-p"),
    (["generate", "{P}/gpt", "--prompt", ""], "--prompt"),
    (["generate", "--prompt", "ROMEO:", "{P}/gpt", "--seed", "-3"], "--seed"),
    (["generate", "{P}/translation"], "does not apply"),
    # export
    (["export", "{P}/gpt", "--out", "{P}/file.txt"], "--out"),
    (["export", "{P}/gpt", "--out", "{P}/other"], "--out"),
    (["export", "{P}/gpt"], "--out"),
    (
        ["export", "{P}/gpt", "--out", "{P}/e", "--max-new-tokens", "0"],
        "tokens",
    ),
    (
        ["export", "{P}/translation", "--out", "{P}/e", "--beam-size", "0"],
        "beam",
    ),
    (["export", "{P}/vit-unfinished", "--out", "{P}/e"], "has not finished"),
]


@pytest.mark.parametrize(
    "argv, named", CASES, ids=[" ".join(a) for a, _ in CASES]
)
def test_a_mistake_is_one_line_and_exit_2(argv, named, places, capsys):
    before = listing(places)
    argv = [a.replace("{P}", str(places)) for a in argv]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    assert named in lines[0], lines[0]
    assert listing(places) == before  # nothing written


def test_the_real_command_prints_no_traceback(places, tmp_path):
    """`python -m zoo` itself, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv, named in (
        (["train", "vit", "--dataset", "digits", "--epochs", "0"], "--epochs"),
        ([*TRAIN_VIT, "--out", str(places / "file.txt")], "--out"),
        (["evaluate", str(places / "vit-unfinished")], "has not finished"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "zoo", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert named in done.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_a_bug_still_shows_its_traceback(monkeypatch, tmp_path):
    from zoo.vit import train

    def broken(cfg, prepared):
        raise RuntimeError("a bug in the recipe")

    monkeypatch.setattr(train.FAMILY, "build_model", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="a bug in the recipe"):
        run([*TINY_VIT, "--out", str(out)])
    assert not out.exists()  # a failed start, even by a bug


@pytest.mark.parametrize("where", ["new", "nested", "empty"])
def test_a_failed_start_leaves_no_folder_behind(where, monkeypatch, tmp_path):
    from zoo.cli import UsageError
    from zoo.vit import train

    def refuse(cfg, prepared):
        raise UsageError("refused")

    monkeypatch.setattr(train.FAMILY, "build_model", refuse)
    out = {
        "new": tmp_path / "run",
        "nested": tmp_path / "a" / "b" / "run",
        "empty": tmp_path / "empty",
    }[where]
    if where == "empty":
        out.mkdir()
    assert run([*TINY_VIT, "--out", str(out)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["empty"] if where == "empty" else []
    )
    if where == "empty":
        assert list(out.iterdir()) == []
    if where == "new":  # the corrected command starts in the same folder
        monkeypatch.undo()
        args = [*TRAIN_VIT, "--epochs", "1", "--steps-per-epoch", "1"]
        assert run([*args, "--no-jit", "--out", str(out)]) == 0


def test_a_failed_extend_leaves_the_finished_run_as_it_was(
    digits_run, monkeypatch, tmp_path, capsys
):
    from zoo.vit import train

    out = tmp_path / "run"
    shutil.copytree(digits_run, out)
    before = listing(out)

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the model compiles

    monkeypatch.setattr(train.FAMILY, "compile_model", broken)
    args = [*TRAIN_VIT, "--steps-per-epoch", "2", "--no-jit"]
    with pytest.raises(KeyboardInterrupt):
        run([*args, "--epochs", "3", "--extend", "--out", str(out)])
    assert listing(out) == before
    monkeypatch.undo()
    assert run([*args, "--epochs", "2", "--out", str(out)]) == 0
    assert "holds a finished run" in capsys.readouterr().out


def test_a_rerun_lists_only_the_settings_that_differ(digits_run, capsys):
    before = listing(digits_run)
    args = [*TRAIN_VIT, "--steps-per-epoch", "2", "--out", str(digits_run)]
    assert run([*args, "--epochs", "3", "--batch-size", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert "(epochs: 2 -> 3, batch_size: 128 -> 64)" in err
    assert "d_model" not in err and len(err) < 300
    assert "--extend" not in err  # not only more epochs: extend cannot help
    assert run([*args, "--epochs", "2", "--seed", "1"]) == 2
    assert "(seed: 0 -> 1)" in capsys.readouterr().err
    assert run([*args, "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "(epochs: 2 -> 3)" in err and "--extend" in err
    assert listing(digits_run) == before


def test_extend_refuses_what_it_cannot_do(digits_run, capsys):
    args = [*TRAIN_VIT, "--steps-per-epoch", "2", "--out", str(digits_run)]
    assert run([*args, "--epochs", "2", "--extend"]) == 2
    assert "give --epochs above the run's 2" in capsys.readouterr().err
    assert run([*args, "--epochs", "4", "--seed", "3", "--extend"]) == 2
    assert "other settings (seed: 0 -> 3)" in capsys.readouterr().err


def test_extend_needs_the_saved_training_state(digits_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(digits_run, out)
    (out / "checkpoints" / "backup" / "state.json").unlink()
    before = listing(out)
    args = [*TRAIN_VIT, "--steps-per-epoch", "2", "--out", str(out)]
    assert run([*args, "--epochs", "4", "--extend"]) == 2
    err = capsys.readouterr().err
    assert "--extend" in err and "kept no training state" in err
    assert listing(out) == before


def test_extend_continues_a_finished_run(digits_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(digits_run, out)
    first = json.loads((out / "metrics.json").read_text())
    rows = (out / "history.csv").read_text().splitlines()
    capsys.readouterr()
    args = [*TRAIN_VIT, "--steps-per-epoch", "2", "--no-jit", "--out", str(out)]
    assert run([*args, "--epochs", "4", "--extend"]) == 0
    printed = capsys.readouterr().out
    assert "Resuming after epoch 2" in printed
    assert "Epoch 3/4" in printed and "Epoch 1/4" not in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 4 and metrics["resumed_after_epoch"] == 2
    assert metrics["train_seconds"] > first["train_seconds"]
    history = (out / "history.csv").read_text().splitlines()
    assert history[:3] == rows and [r[0] for r in history[1:]] == list("0123")
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["epochs"] == 4
    # Now a finished 4-epoch run: the plain command says so.
    assert run([*args, "--epochs", "4"]) == 0
    assert "holds a finished run" in capsys.readouterr().out


@pytest.fixture(scope="module")
def gpt_model_file(tmp_path_factory):
    from keras_transformer.models import GPT

    model = GPT(
        vocab_size=12,
        max_length=8,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        dropout_rate=0.0,
    )
    model.build()
    path = tmp_path_factory.mktemp("gpt") / "model.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("damage", ["empty", "truncated", "gpt", "text"])
def test_a_bad_model_file_is_named(
    damage, digits_run, gpt_model_file, tmp_path, capsys
):
    out = tmp_path / "run"
    shutil.copytree(digits_run, out)
    model = out / "model.keras"
    data = model.read_bytes()
    if damage == "empty":
        model.write_bytes(b"")
    elif damage == "truncated":
        model.write_bytes(data[: len(data) // 2])
    elif damage == "gpt":
        shutil.copyfile(gpt_model_file, model)
    else:
        model.write_text("weights, I promise")
    for command in (["evaluate", str(out)], ["predict", str(out), "x.png"]):
        assert run(command) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(model) in err
        expected = {
            "empty": "is empty",
            "truncated": "truncated or damaged",
            "gpt": "holds a GPT model, not the VisionTransformer",
            "text": "truncated or damaged",
        }[damage]
        assert expected in err
        assert "Delete it and run the training command again" in err
    # As it says: without model.keras, the run's command saves it again
    # from the last checkpoint, without training.
    model.unlink()
    args = [*TRAIN_VIT, "--epochs", "2", "--steps-per-epoch", "2", "--no-jit"]
    assert run([*args, "--out", str(out)]) == 0
    assert "Resuming after epoch 2" in capsys.readouterr().out
    assert run(["evaluate", str(out)]) == 0


# ---- GPT and translation runs, on the sample corpora of tests/data


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    from tests.zoo.conftest import SAMPLE_DATA

    out = tmp_path_factory.mktemp("runs") / "gpt"
    args = [*TRAIN_GPT, "--preset", "shakespeare-tiny", "--no-jit"]
    assert run([*args, "--data-dir", str(SAMPLE_DATA), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory):
    from tests.zoo.conftest import SAMPLE_DATA

    out = tmp_path_factory.mktemp("runs") / "de-en"
    args = [*TRAIN_TR, "--preset", "multi30k-tiny", "--steps-per-epoch", "2"]
    args += ["--no-bleu", "--no-jit", "--data-dir", str(SAMPLE_DATA)]
    assert run([*args, "--out", str(out)]) == 0
    return out


def test_mistakes_only_a_trained_run_reveals(gpt_run, translation_run, capsys):
    for argv, named in (
        (["generate", gpt_run, "--top-k", "1000"], "--top-k 1000 is more"),
        (["export", gpt_run, "--out", "x", "--top-k", "1000"], "--top-k"),
        (["generate", gpt_run, "--prompt", "€"], "--prompt"),
        (["translate", translation_run, "wort " * 60], "max_length=48"),
    ):
        assert run([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert named in err, err
    assert not os.path.exists("x")


def test_a_start_that_fails_on_the_data_leaves_no_folder(
    sample_dir, tmp_path, capsys
):
    """The batches are planned after the tokenizers are learned and saved
    in the run directory: a batch size too large for the data fails
    there, and the folder goes with it."""
    out = tmp_path / "run"
    args = [*TRAIN_TR, "--preset", "multi30k-tiny", "--data-dir", sample_dir]
    argv = [str(a) for a in [*args, "--batch-tokens", "1000000", "--out", out]]
    assert run(argv) == 2
    assert "--batch-tokens 1000000 leaves no full training batch" in (
        capsys.readouterr().err
    )
    assert not out.exists()


@pytest.mark.parametrize("task", ["gpt", "translation"])
def test_extend_continues_gpt_and_translation_runs(
    task, gpt_run, translation_run, sample_dir, tmp_path, capsys
):
    out = tmp_path / task
    shutil.copytree(gpt_run if task == "gpt" else translation_run, out)
    if task == "gpt":
        args = [*TRAIN_GPT, "--preset", "shakespeare-tiny", "--no-jit"]
        more = ["--iterations", "30"]
    else:
        args = [*TRAIN_TR, "--preset", "multi30k-tiny", "--no-bleu"]
        args += ["--steps-per-epoch", "2", "--no-jit"]
        more = ["--epochs", "3"]
    args += ["--data-dir", str(sample_dir), "--out", str(out)]
    capsys.readouterr()
    assert run([*args, *more]) == 2
    assert "--extend" in capsys.readouterr().err
    assert run([*args, *more, "--extend"]) == 0
    assert "Resuming after epoch 2" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["resumed_after_epoch"] == 2


def test_a_search_whose_objective_is_not_logged_leaves_no_folder(
    tmp_path, capsys
):
    """Known only once the baseline has trained: the search's folder,
    written by then, goes."""
    out = tmp_path / "search"
    args = [*TUNE_VIT, "--epochs-per-trial", "1", "--steps-per-epoch", "1"]
    args += ["--no-jit", "--objective", "val_nonsense:min", "--out", str(out)]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "--objective val_nonsense is not a metric" in err
    assert "val_loss" in err
    assert not out.exists()


def test_every_task_names_the_config_its_runs_record():
    from zoo import tasks

    assert set(tasks.CONFIG_CLASSES) == set(tasks.TASKS)
    for task in tasks.TASKS:
        presets = tasks.family(task).config.PRESETS
        # The class a run's config.json is read back into is the one the
        # family's presets are made of.
        assert {type(cfg) for cfg in presets.values()} == {
            tasks.config_class(task)
        }, task
