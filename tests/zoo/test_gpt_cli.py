"""The GPT recipe end to end with the tiny preset on Tiny Shakespeare."""

import json

import pytest

from tests.zoo.conftest import SAMPLE_DATA
from zoo import datasets
from zoo.__main__ import main
from zoo.__main__ import run

RUN_FILES = [
    "config.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "training_curves.png",
    "sample.txt",
    "tokenizer/characters.json",
    "checkpoints/best.weights.h5",
]


def tiny_train(out, data_dir):
    return [
        "train",
        "gpt",
        "--dataset",
        "shakespeare",
        "--preset",
        "shakespeare-tiny",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny preset on the committed sample text (tests/data)."""
    out = tmp_path_factory.mktemp("runs") / "gpt"
    assert main(tiny_train(out, SAMPLE_DATA)) == 0
    return out


@pytest.mark.data
def test_the_tiny_preset_on_tiny_shakespeare(data_dir, tmp_path, capsys):
    """The same recipe on the full Tiny Shakespeare: nanoGPT's split."""
    out = tmp_path / "gpt"
    assert main(tiny_train(out, data_dir)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2
    assert metrics["val_tokens"] == (111_540 - 1) // 32 * 32
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"validation loss: {metrics['val_loss']:.4f}" in printed


def test_a_run_writes_every_file_and_evaluate_agrees(tiny_run, capsys):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2
    val_text = datasets.load_shakespeare(data_dir=SAMPLE_DATA)["val"]
    assert metrics["val_tokens"] == (len(val_text) - 1) // 32 * 32
    capsys.readouterr()
    assert main(["evaluate", str(tiny_run)]) == 0
    printed = capsys.readouterr().out
    assert f"validation loss: {metrics['val_loss']:.4f}" in printed
    sample = (tiny_run / "sample.txt").read_text()
    assert sample.startswith("ROMEO:") and len(sample) == len("ROMEO:") + 301


def test_generate_streams_the_text_and_repeats_with_a_seed(tiny_run, capsys):
    args = ["generate", str(tiny_run), "--prompt", "KING:", "--seed", "3"]
    args += ["--max-new-tokens", "70", "--top-k", "10"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    # The prompt, 70 characters (more than the 32-token window), a newline.
    assert first.startswith("KING:") and len(first) == 5 + 70 + 1
    assert main(args[:-4] + ["--max-new-tokens", "70", "--seed", "4"]) == 0
    assert capsys.readouterr().out != first


def test_streamed_pieces_make_the_returned_text(tiny_run):
    from zoo.gpt.evaluate import generate_text
    from zoo.gpt.evaluate import load_run

    _, _, _, model, tokenizer = load_run(tiny_run)
    pieces = []
    text = generate_text(
        model, tokenizer, "To be", 50, temperature=0.0, stream=pieces.append
    )
    assert len(pieces) == 7  # chunks of 32 // 4 = 8 characters
    assert text == "To be" + "".join(pieces) and len(text) == 55


def test_bad_prompts_and_other_commands_get_clear_errors(tiny_run, capsys):
    assert run(["generate", str(tiny_run), "--prompt", "Grüß"]) == 2
    assert "outside the vocabulary: ['ß', 'ü']" in capsys.readouterr().err
    assert run(["generate", str(tiny_run), "--prompt", ""]) == 2
    assert "non-empty string" in capsys.readouterr().err
    assert run(["translate", str(tiny_run), "Hallo"]) == 2
    assert "does not apply to a 'gpt' run" in capsys.readouterr().err


def test_help_everywhere(capsys):
    for args in (["train", "gpt", "--help"], ["generate", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 0
        assert "usage: python -m zoo" in capsys.readouterr().out


def test_export_generates_in_a_fresh_process(tiny_run, tmp_path):
    import subprocess
    import sys
    import textwrap

    from keras_transformer.export import TextGenerator
    from zoo.gpt.evaluate import load_run

    out = tmp_path / "exported"
    args = ["export", str(tiny_run), "--out", str(out), "--top-k", "10"]
    assert main(args + ["--max-new-tokens", "12", "--seed", "5"]) == 0
    _, _, _, model, tokenizer = load_run(tiny_run)
    here = TextGenerator(
        model,
        tokenizer,
        12,
        temperature=0.8,
        top_k=10,
        seed=5,
        long_prompt="crop",  # as the zoo exports it
    )(["ROMEO:", "KING RICHARD III:\nWhat"])
    script = textwrap.dedent(
        f"""
        import sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 (registers the ops)
        loaded = tf.saved_model.load({str(out)!r})
        prompts = tf.constant(["ROMEO:", "KING RICHARD III:\\nWhat"])
        text = loaded.signatures["serving_default"](prompt=prompts)["text"]
        print(repr([t.decode() for t in text.numpy()]))
        assert "keras_transformer" not in sys.modules
        assert "zoo" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == repr(here)
    assert all(len(t) == 12 for t in here)
