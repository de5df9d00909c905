"""The recurrent baseline: its model against a NumPy reference and against
itself decoded step by step, and the recipe end to end on the sample
corpus."""

import importlib.util
import json

import keras
import numpy as np
import pytest
from keras import ops

from tests.zoo.conftest import ROOT
from zoo.__main__ import main
from zoo.seq2seq.model import Seq2SeqLSTM


def model(attention):
    keras.utils.set_random_seed(0)
    return Seq2SeqLSTM(30, 40, units=16, embedding_dim=8,
                       attention=attention, dropout_rate=0.0,
                       max_length=20)  # fmt: skip


def batch():
    rng = np.random.default_rng(0)
    src = rng.integers(1, 30, (3, 7)).astype("int32")
    src[0, 4:] = 0  # a shorter source, padded
    tgt = rng.integers(1, 40, (3, 6)).astype("int32")
    return src, tgt


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_step_by_step_decoding_equals_teacher_forcing(attention):
    m, (src, tgt) = model(attention), batch()
    full = ops.convert_to_numpy(m((src, tgt)))
    state = m.start_decoding(src, tgt.shape[1])
    for t in range(tgt.shape[1]):
        logits, state = m.decode_step(state, tgt[:, t : t + 1], t)
        np.testing.assert_allclose(
            ops.convert_to_numpy(logits), full[:, t], atol=1e-5
        )


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_source_padding_changes_nothing(attention):
    m, (src, tgt) = model(attention), batch()
    longer = np.pad(src, ((0, 0), (0, 5)))
    np.testing.assert_allclose(
        ops.convert_to_numpy(m((longer, tgt))),
        ops.convert_to_numpy(m((src, tgt))),
        atol=1e-5,
    )


def test_bahdanau_weights_match_a_numpy_reference():
    """Step 1's weights: softmax over the real source positions of
    v^T tanh(W s_0 + U h_j + b), from the layers' own kernels."""
    m, (src, tgt) = model("bahdanau"), batch()
    _, weights = m((src, tgt), return_attention_scores=True)
    weights = ops.convert_to_numpy(weights)
    state = {k: ops.convert_to_numpy(v) for k, v in m._encode(src).items()}
    u, b = (ops.convert_to_numpy(w) for w in m._keys.weights)
    w = ops.convert_to_numpy(m._query.weights[0])
    v = ops.convert_to_numpy(m._score.weights[0])[:, 0]
    scores = np.tanh(state["memory"] @ u + b + (state["h"] @ w)[:, None]) @ v
    scores = np.where(src != 0, scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights[:, 0], expected, atol=1e-5)
    assert np.all(weights[0, :, 4:] == 0)  # never on padding
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_without_attention_the_context_is_one_vector():
    m, (src, tgt) = model("none"), batch()
    _, weights = m((src, tgt), return_attention_scores=True)
    assert weights is None
    # Changing the first source token changes every step's logits (the
    # context) through the summary alone.
    other = src.copy()
    other[:, 0] = (other[:, 0] % 29) + 1
    a = ops.convert_to_numpy(m((src, tgt)))
    b = ops.convert_to_numpy(m((other, tgt)))
    assert np.all(np.abs(a - b).max(-1) > 1e-6)


def test_saves_and_reloads(tmp_path):
    m, (src, tgt) = model("bahdanau"), batch()
    m.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        ops.convert_to_numpy(again((src, tgt))),
        ops.convert_to_numpy(m((src, tgt))),
        atol=1e-6,
    )
    assert again.get_config() == m.get_config()


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqLSTM(30, 40, attention="luong")
    with pytest.raises(ValueError, match="units"):
        Seq2SeqLSTM(30, 40, units=0)


def test_the_recipe_trains_evaluates_and_translates(sample_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--data-dir", str(sample_dir)]
    assert main(["train", "seq2seq", "--dataset", "multi30k", "--preset",
                 "multi30k-tiny", "--attention", "none", "--steps-per-epoch",
                 "3", "--out", str(out), *args]) == 0  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "seq2seq"
    assert config["config"]["attention"] == "none"
    assert config["jit_compile"] is False
    trained = json.loads((out / "metrics.json").read_text())
    assert main(["evaluate", str(out), *args]) == 0
    again = json.loads((out / "metrics.json").read_text())
    # The saved model decodes the test set as the one in memory did.
    assert again["test2016_bleu"] == trained["test2016_bleu"]
    assert main(["translate", str(out), "ein mann ."]) == 0
    # Exposure bias: teacher-forced token accuracy is what evaluate()
    # measured in training; the free-running BLEU is greedy decoding's.
    assert main(["evaluate", str(out), "--exposure-bias", "--beam-size", "1",
                 *args]) == 0  # fmt: skip
    greedy = json.loads((out / "metrics.json").read_text())
    exposure = json.loads((out / "exposure_bias.json").read_text())
    assert exposure["teacher_forced"]["token_accuracy"] == pytest.approx(
        trained["test_token_accuracy"], abs=1e-6
    )
    assert exposure["free_running"]["bleu"] == greedy["test2016_bleu"]
    assert (out / "exposure_bias.png").stat().st_size > 10_000
    # The docs' collector reads back what evaluate wrote.
    spec = importlib.util.spec_from_file_location(
        "collect_runs", ROOT / "docs" / "collect_runs.py"
    )
    collect_runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(collect_runs)
    (entry,) = collect_runs.collect([out])["models"]
    assert entry["model"] == "LSTM, no attention"
    assert entry["bleu"] == greedy["test2016_bleu"]
    assert entry["bleu_by_length"] == greedy["test2016_bleu_by_length"]
    norms = collect_runs.encoder_gradients(out, sample_dir)
    assert len(norms) == collect_runs.WINDOW and min(norms) > 0


def test_an_unknown_attention_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "seq2seq", "--dataset", "multi30k", "--attention",
              "luong", "--out", "unused"])  # fmt: skip
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--attention: must be one of none, bahdanau; received 'luong'" in err
