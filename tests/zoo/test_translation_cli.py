"""The translation recipe end to end on a few hundred Multi30k pairs."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo.__main__ import main
from zoo.__main__ import run

RUN_FILES = [
    "config.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "training_curves.png",
    "test2016.hyp.txt",
    "checkpoints/best.weights.h5",
    "tokenizer_source/vocabulary.txt",
    "tokenizer_target/vocabulary.txt",
]


def tiny_train(out, data_dir, *extra):
    return [
        "train",
        "translation",
        "--dataset",
        "multi30k",
        "--preset",
        "multi30k-tiny",
        "--steps-per-epoch",
        "4",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny preset on the committed sample corpus (tests/data)."""
    from tests.zoo.conftest import SAMPLE_DATA

    out = tmp_path_factory.mktemp("runs") / "de-en"
    assert main(tiny_train(out, SAMPLE_DATA)) == 0
    return out


@pytest.mark.data
def test_the_tiny_preset_on_multi30k(data_dir, tmp_path):
    """The same recipe on the full Multi30k (300 sampled training pairs)."""
    out = tmp_path / "de-en"
    assert main(tiny_train(out, data_dir)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sentences"] == 30 and metrics["epochs_run"] == 2
    # With 400 WordPiece tokens some test sentences exceed max_length 48:
    # BLEU still covers all 30, their sources truncated and counted.
    assert 0 < metrics["truncated_sources"] < 30
    hypotheses = (out / "test2016.hyp.txt").read_text().splitlines()
    assert len(hypotheses) == 30
    assert main(["translate", str(out), "Ein Mann fährt Fahrrad."]) == 0


def test_help_everywhere(capsys):
    for args in (
        ["train", "translation", "--help"],
        ["translate", "--help"],
    ):
        with pytest.raises(SystemExit) as exit:
            main(args)
        assert exit.value.code == 0
        assert "usage" in capsys.readouterr().out.lower()
    # export's options depend on the run's task: both are shown.
    assert main(["export", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--beam-size" in out and "--top-k" in out


def test_train_writes_every_file(tiny_run):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file(), name
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["task"] == "translation" and config["src"] == "de"
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2
    assert metrics["sentences"] == 30 and metrics["truncated_sources"] == 0
    assert metrics["bleu_signature"].startswith(
        "nrefs:1|case:lc|eff:no|tok:13a"
    )
    hypotheses = (tiny_run / "test2016.hyp.txt").read_text().splitlines()
    assert len(hypotheses) == 30


def test_evaluate_rescores_the_same_hypotheses(tiny_run, capsys):
    from zoo.translation.scores import bleu

    before = json.loads((tiny_run / "metrics.json").read_text())
    main(["evaluate", str(tiny_run)])
    printed = capsys.readouterr().out
    after = json.loads((tiny_run / "metrics.json").read_text())
    assert after["test2016_bleu"] == before["test2016_bleu"]
    assert f"BLEU {after['test2016_bleu']:.2f}" in printed
    assert "sacreBLEU signature: nrefs:1|case:lc" in printed
    # sacreBLEU itself: a perfect hypothesis scores 100, lower-cased.
    perfect = bleu(["A man rides a bike ."], ["a man rides a bike ."])[0]
    assert perfect == pytest.approx(100)


def test_translate_prints_and_plots(tiny_run, tmp_path, capsys):
    plot = tmp_path / "attention.png"
    status = main(
        [
            "translate",
            str(tiny_run),
            "Ein Mann fährt Fahrrad.",
            "--plot",
            str(plot),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "Ein Mann fährt Fahrrad.\n  -> " in printed
    assert plot.is_file() and plot.stat().st_size > 1000


def test_attention_plot_shows_the_printed_translation(
    tiny_run, tmp_path, monkeypatch
):
    import keras_transformer.visualization as visualization
    from zoo.translation.evaluate import load_run
    from zoo.translation.evaluate import plot_cross_attention
    from zoo.translation.evaluate import translator_for

    seen = {}

    def record(weights, query_tokens, key_tokens, path, title=None):
        seen["rows"] = list(query_tokens)
        seen["shape"] = np.shape(weights)
        return path

    monkeypatch.setattr(visualization, "plot_attention_heads", record)
    _, _, cfg, model, tokenizers = load_run(tiny_run)
    translator = translator_for(cfg, model, tokenizers, beam_size=2)
    sentence = "Zwei Hunde spielen im Schnee."
    printed = translator([sentence])[0]
    plot_cross_attention(translator, sentence, tmp_path / "a.png")
    pieces = [t for t in seen["rows"] if t != "[END]"]
    # The rows are the printed words' pieces (detokenizing also glues
    # punctuation to the word before it, so compare without spaces).
    spelled = "".join(pieces).replace("##", "")
    assert spelled == printed.replace(" ", "") and spelled
    assert seen["shape"][1] == len(seen["rows"])


def test_translate_refuses_bad_sentences(tiny_run, capsys):
    assert run(["translate", str(tiny_run), "  "]) == 2
    assert "empty" in capsys.readouterr().err
    assert run(["translate", str(tiny_run), "wort " * 60]) == 2
    assert "max_length=48" in capsys.readouterr().err
    assert run(["predict", str(tiny_run), "x.png"]) == 2
    assert "does not apply" in capsys.readouterr().err


def test_translator_batches_truncates_and_checks_types(tiny_run):
    from zoo.translation.evaluate import load_run
    from zoo.translation.evaluate import translator_for

    _, _, cfg, model, tokenizers = load_run(tiny_run)
    translator = translator_for(cfg, model, tokenizers)
    sentences = ["Ein Hund läuft.", "Zwei Frauen sitzen auf einer Bank."]
    batch = translator(sentences)
    assert batch == [translator(s) for s in sentences]
    assert translator(["", "Ein Hund läuft."]) == ["", batch[0]]
    # Too long for the model: a clear error, not a silent truncation.
    too_long = r"402 tokens, more than the model's max_length=48"
    with pytest.raises(ValueError, match=too_long):
        translator.source_ids(["wort " * 100])
    with pytest.raises(ValueError, match="max_length=48"):
        translator("wort " * 100)
    # Truncation only when asked for: the last kept token is [END] (3).
    from keras_transformer.export import Translator

    cutting = Translator(
        model,
        *tokenizers,
        beam_size=cfg.beam_size,
        length_penalty=cfg.length_penalty,
        truncate_long_sources=True,
    )
    ids = cutting.source_ids(["wort " * 100]).numpy()
    assert ids.shape == (1, 48) and ids[0, -1] == 3
    assert isinstance(cutting("wort " * 100), str)
    with pytest.raises(ValueError, match="takes strings"):
        translator(["ok", 3])


def test_export_translates_in_a_fresh_process(tiny_run, tmp_path):
    from zoo.translation.evaluate import load_run
    from zoo.translation.evaluate import translator_for

    out = tmp_path / "saved"
    main(["export", str(tiny_run), "--out", str(out)])
    _, _, cfg, model, tokenizers = load_run(tiny_run)
    sentences = ["Ein Mann fährt Fahrrad.", "Ein Kind spielt.", ""]
    expected = translator_for(cfg, model, tokenizers)(sentences)

    script = textwrap.dedent(
        f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 (registers the text ops)
        serve = tf.saved_model.load({str(out)!r}).signatures["serving_default"]
        out = serve(text=tf.constant({sentences!r}))["translation"]
        ours = ("keras_transformer", "zoo")
        assert not any(m.split(".")[0] in ours for m in sys.modules)
        print(json.dumps([t.decode("utf-8") for t in out.numpy()]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == expected


def test_a_run_of_another_task_is_refused(tiny_run, tmp_path, capsys):
    config = json.loads((tiny_run / "config.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**config, "task": "vit"}))
    assert run(["translate", str(other), "Hallo"]) == 2
    assert "does not apply" in capsys.readouterr().err


def test_batches_cover_every_pair_once_when_not_training():
    import tensorflow as tf

    from zoo.translation import data

    lengths = [3, 5, 17, 30, 4, 70]
    ids = tf.ragged.constant([[1] * n for n in lengths], tf.int64)
    plan = data.batches(ids, ids, batch_tokens=64)
    seen = sorted(int(i) for _, members in plan.plan for i in members)
    assert seen == list(range(len(lengths)))
    for (src, tgt_in), tgt_out in plan.dataset():
        assert src.shape[1] in data.BUCKETS
        np.testing.assert_array_equal(tgt_in.shape, tgt_out.shape)


def test_bleu_by_length_scores_each_bucket_alone():
    from zoo.translation.scores import bleu
    from zoo.translation.scores import bleu_by_length

    words = [f"w{i}" for i in range(30)]
    # Lengths on both sides of each bucket's edges.
    sources = [" ".join(words[:n]) for n in (3, 10, 11, 15, 16, 21, 13)]
    references = [f"ref {s}" for s in sources]
    hypotheses = [f"ref {s}" if i % 2 else s for i, s in enumerate(sources)]
    out = bleu_by_length(sources, hypotheses, references)
    assert [v["sentences"] for v in out.values()] == [2, 3, 1, 1]
    middle = [i for i, s in enumerate(sources) if 11 <= len(s.split()) <= 15]
    score = bleu(
        [hypotheses[i] for i in middle], [references[i] for i in middle]
    )
    assert out["11-15"]["bleu"] == round(score[0], 2)
    assert out["21+"]["bleu"] == 100.0  # index 5: hypothesis = reference
