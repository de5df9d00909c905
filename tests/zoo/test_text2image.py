"""The text-to-image recipe: its loss, its sampler and the commands, end
to end on scikit-learn's digits (no download)."""

import json

import keras
import numpy as np
import pytest

from keras_transformer import recipes
from keras_transformer.generation import sample
from keras_transformer.models import GPT
from zoo.__main__ import main
from zoo.text2image import captions
from zoo.text2image.evaluate import ImageCodesOnly


def tiny_gpt(vocab, cells):
    keras.utils.set_random_seed(0)
    return GPT(vocab.size, captions.CAPTION_LENGTH + 1 + cells, num_layers=1,
               d_model=16, num_heads=2, d_ff=32, dropout_rate=0.0)  # fmt: skip


def sequences(vocab, cells=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 6)
    codes = rng.integers(0, vocab.num_codes, (6, cells))
    return vocab.sequences(captions.train_captions(labels, seed), codes)


def test_caption_targets_do_not_move_the_image_loss_at_text_weight_0():
    vocab = captions.Vocabulary(num_codes=16)
    model = tiny_gpt(vocab, 4)
    recipes.compile_gpt(model, learning_rate=1e-3)
    ids = sequences(vocab)
    x, y = ids[:, :-1], ids[:, 1:]
    weights = captions.loss_weights(ids, 4, text_weight=0.0)
    changed = y.copy()
    changed[:, :-4] = (changed[:, :-4] + 3) % vocab.image_offset
    loss = model.evaluate(x, y, sample_weight=weights, verbose=0)[0]
    same = model.evaluate(x, changed, sample_weight=weights, verbose=0)[0]
    assert same == pytest.approx(loss, abs=1e-6)
    # With a text weight the caption's targets count.
    weighted = captions.loss_weights(ids, 4, text_weight=0.5)
    a = model.evaluate(x, y, sample_weight=weighted, verbose=0)[0]
    b = model.evaluate(x, changed, sample_weight=weighted, verbose=0)[0]
    assert abs(a - b) > 1e-3
    # The image loss alone, in NumPy: mean cross-entropy of the codes.
    logits = keras.ops.convert_to_numpy(model(x))[:, -4:]
    logits = logits - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = y[:, -4:]
    expected = -np.take_along_axis(logp, targets[..., None], -1).mean()
    assert loss == pytest.approx(expected, rel=1e-5)


def test_cached_sampling_equals_uncached_and_writes_only_image_codes():
    vocab = captions.Vocabulary(num_codes=16)
    model = tiny_gpt(vocab, 4)
    restricted = ImageCodesOnly(model, vocab)
    prompt = np.repeat(vocab.prompt("a handwritten seven"), 3, axis=0)
    cached, _ = sample(restricted, prompt, 4, seed=5, use_cache=True)
    full, _ = sample(restricted, prompt, 4, seed=5, use_cache=False)
    np.testing.assert_array_equal(np.asarray(cached), np.asarray(full))
    new = np.asarray(cached)[:, -4:]
    assert new.min() >= vocab.image_offset and new.max() < vocab.size


def test_train_generate_and_judge_on_digits(tmp_path):
    out, judge_run = tmp_path / "t2i", tmp_path / "vit"
    assert main(["train", "text2image", "--dataset", "digits", "--epochs",
                 "1", "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["vq_test_mse"] < 0.05
    assert (out / "samples.png").stat().st_size > 10_000
    assert (out / "image_tokenizer.keras").is_file()
    vit = ["train", "vit", "--dataset", "digits", "--epochs", "1"]
    assert main([*vit, "--steps-per-epoch", "4", "--out", str(judge_run)]) == 0
    png = tmp_path / "three.png"
    generate = ["generate", str(out), "a handwritten three", "--samples", "4"]
    rerank = ["--rerank", str(judge_run), "--out", str(png)]
    assert main([*generate, *rerank]) == 0
    assert png.stat().st_size > 5_000
    assert main(["evaluate", str(out), "--classifier", str(judge_run),
                 "--per-digit", "2", "--candidates", "2"]) == 0  # fmt: skip
    judged = json.loads((out / "judged.json").read_text())
    assert judged["images"] == 20
    assert 0.0 <= judged["match"] <= 1.0
    assert 0.0 <= judged["match_reranked"] <= 1.0
    assert judged["diversity"] > 0 and judged["real_diversity"] > 0
