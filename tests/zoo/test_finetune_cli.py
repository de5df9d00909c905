"""`python -m zoo finetune`: LoRA changes only the adapted kernels (and
the ViT's head), full fine-tuning changes every weight, training from
scratch starts from fresh weights of the seed, the validation loss on the
user's text goes down, the output folder is a run directory the other
commands take, and mistakes are one line with exit status 2 and nothing
written."""

import dataclasses
import json
import math
import random

import numpy as np
import pytest

from tests.zoo.conftest import SAMPLE_DATA
from zoo.__main__ import run

TINY_GPT = [
    "train",
    "gpt",
    "--dataset",
    "shakespeare",
    "--preset",
    "shakespeare-tiny",
    "--data-dir",
    str(SAMPLE_DATA),
    "--iterations",  # enough for a model worth adapting (loss about 2)
    "200",
    "--no-jit",
]
TINY_VIT = [
    "train",
    "vit",
    "--dataset",
    "digits",
    "--epochs",
    "2",
    "--steps-per-epoch",
    "3",
    "--no-jit",
]
# Fast and clearly learning: a high rate, a few steps, no XLA.
QUICK_GPT = [
    "--iterations",
    "40",
    "--eval-interval",
    "10",
    "--lora-rank",
    "4",
    "--learning-rate",
    "1e-2",
    "--no-jit",
]
QUICK_VIT = ["--epochs", "3", "--steps-per-epoch", "5", "--no-jit"]
RANK = 4
# shakespeare-tiny: 1 layer, d_model 32, 2 heads of 16.
LAYERS, D_MODEL, HEADS, D_K = 1, 32, 2, 16


def lora_size(rank, d_model, heads, d_k):
    """Trainable scalars of Keras' LoRA on one W_Q or W_V, a Dense kernel
    (d_model, heads * d_k): A (d_model, rank) and B (rank, heads * d_k)."""
    return rank * (d_model + heads * d_k)


def user_text(seed=0, size=4000):
    """Plain sentences, not a play: a text the tiny run has never seen,
    written with characters of its vocabulary."""
    rng = random.Random(seed)
    words = (
        ("the cat", "a dog", "my friend", "the old man", "our teacher"),
        ("walks to", "looks at", "sits near", "runs past", "waits for"),
        ("the river", "a small house", "the market", "an open door"),
    )
    lines = []
    while sum(map(len, lines)) < size:
        lines.append(" ".join(rng.choice(w) for w in words) + ".\n")
    return "".join(lines)


def finetune(*args):
    assert run(["finetune", *map(str, args)]) == 0


def weights(path):
    """`{path: array}` of a saved model's weights."""
    import keras

    import keras_transformer  # noqa: F401 (registers the classes)

    model = keras.saving.load_model(path)
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


def changed(before, after):
    """The weight paths whose values differ."""
    assert before.keys() == after.keys()
    return {p for p in before if not np.array_equal(before[p], after[p])}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    (root / "user.txt").write_text(user_text(), encoding="utf-8")
    assert run([*TINY_GPT, "--out", str(root / "gpt")]) == 0
    assert run([*TINY_VIT, "--out", str(root / "vit")]) == 0
    return root


@pytest.fixture(scope="module")
def gpt_lora(places):
    out = places / "gpt-lora"
    finetune("gpt", places / "gpt", "--data", places / "user.txt",
             *QUICK_GPT, "--out", out)  # fmt: skip
    return out


def test_lora_changes_only_the_adapted_kernels(places, gpt_lora):
    before = weights(places / "gpt" / "model.keras")
    after = weights(gpt_lora / "model.keras")
    kernels = {
        p for p in before if p.endswith(("/query/kernel", "/value/kernel"))
    }
    assert len(kernels) == 2 * LAYERS
    # Norms, biases, embeddings, keys, W_O, feed-forward, head: identical.
    assert changed(before, after) == kernels
    metrics = json.loads((gpt_lora / "metrics.json").read_text())
    lora = LAYERS * 2 * lora_size(RANK, D_MODEL, HEADS, D_K)
    assert metrics["trainable_parameters"] == lora
    assert metrics["parameters"] == sum(a.size for a in before.values())


def test_the_validation_loss_goes_down_on_the_users_text(places, gpt_lora):
    import keras

    from zoo.gpt import data as gpt_data

    metrics = json.loads((gpt_lora / "metrics.json").read_text())
    assert metrics["val_loss_after"] < metrics["val_loss_before"] - 0.1
    assert metrics["kept_epoch"] >= 1
    # The saved (merged) model is the one measured, on the last 10%.
    text = (places / "user.txt").read_text()
    tokenizer = gpt_data.load_tokenizer(gpt_lora)
    val = text[int(len(text) * 0.9) :]
    ids = np.asarray(tokenizer.tokenize(val).flat_values, "int32")
    windows = gpt_data.all_windows(ids, 32)
    model = keras.saving.load_model(gpt_lora / "model.keras")  # compiled
    loss = model.evaluate(windows, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(metrics["val_loss_after"], abs=1e-4)


def test_the_output_is_a_run_the_other_commands_take(gpt_lora, capsys):
    assert (gpt_lora / "sample.txt").read_text().startswith("\n")
    capsys.readouterr()
    assert run(["generate", str(gpt_lora), "--max-new-tokens", "8"]) == 0
    assert len(capsys.readouterr().out) == 1 + 8 + 1


def test_a_rerun_trains_nothing_and_other_settings_are_refused(
    places, gpt_lora, capsys
):
    before = (gpt_lora / "model.keras").read_bytes()
    args = ["finetune", "gpt", str(places / "gpt"), "--data"]
    args += [str(places / "user.txt"), *QUICK_GPT, "--out", str(gpt_lora)]
    assert run(args) == 0
    assert "holds this fine-tuning, finished" in capsys.readouterr().out
    assert run([*args, "--seed", "1"]) == 2
    assert "other settings (finetune.seed: 0 -> 1)" in capsys.readouterr().err
    assert (gpt_lora / "model.keras").read_bytes() == before


def test_a_fine_tuning_that_fails_leaves_no_folder(places, monkeypatch):
    from zoo import finetune as skeleton

    def broken(*args):
        raise RuntimeError("a bug in training")

    monkeypatch.setattr(skeleton, "train", broken)
    out = places / "gpt-broken"
    with pytest.raises(RuntimeError, match="a bug in training"):
        finetune("gpt", places / "gpt", "--data", places / "user.txt",
                 "--no-jit", "--out", out)  # fmt: skip
    assert not out.exists()
    assert not list(places.glob(".tmp-*"))


def test_full_fine_tuning_trains_every_weight(places):
    out = places / "gpt-full"
    quick = [a for a in QUICK_GPT if a not in ("--lora-rank", "4")]
    finetune("gpt", places / "gpt", "--data", places / "user.txt",
             "--mode", "full", *quick, "--out", out)  # fmt: skip
    before = weights(places / "gpt" / "model.keras")
    assert changed(before, weights(out / "model.keras")) == set(before)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trainable_parameters"] == metrics["parameters"]
    assert metrics["val_loss_after"] < metrics["val_loss_before"]


@pytest.fixture(scope="module")
def vit_lora(places):
    out = places / "vit-lora"
    finetune("vit", places / "vit", "--dataset", "digits", *QUICK_VIT,
             "--out", out)  # fmt: skip
    return out


def test_vit_lora_trains_the_blocks_updates_and_the_head(places, vit_lora):
    out = vit_lora
    before = weights(places / "vit" / "model.keras")
    adapted = {
        p
        for p in before
        if p.endswith(("/query/kernel", "/value/kernel", "head/kernel"))
        or p.endswith("head/bias")
    }
    assert len(adapted) == 2 * 2 + 2  # digits-tiny: 2 blocks
    assert changed(before, weights(out / "model.keras")) == adapted
    metrics = json.loads((out / "metrics.json").read_text())
    lora = 2 * 2 * lora_size(8, 64, 4, 16)  # digits-tiny: 2 blocks, rank 8
    assert metrics["trainable_parameters"] == lora + 64 * 10 + 10
    assert metrics["test_accuracy_after"] > metrics["test_accuracy_before"]


def started(*args):
    """Runs `finetune *args`; returns the weights its training started
    from, `{path: array}`."""
    import keras

    from zoo import finetune as skeleton

    start = {}
    train = skeleton.train

    def recording(model, *rest):
        start.update(
            {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
        )
        return train(model, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(skeleton, "train", recording)
        finetune(*args)
    return start


SCRATCH_GPT = ["--mode", "scratch", *QUICK_GPT[:4], "--no-jit"]  # rate 1e-3


@pytest.fixture(scope="module")
def gpt_scratch(places):
    """The output folder and the weights training started from."""
    out = places / "gpt-scratch"
    start = started("gpt", places / "gpt", "--data", places / "user.txt",
                    *SCRATCH_GPT, "--out", out)  # fmt: skip
    return out, start


def test_scratch_starts_from_fresh_weights(places, gpt_lora, gpt_scratch):
    from zoo.gpt.finetune import LEARNING_RATES

    out, start = gpt_scratch
    base = weights(places / "gpt" / "model.keras")
    assert changed(base, start) == set(base)  # no weight is the base run's
    metrics = json.loads((out / "metrics.json").read_text())
    base_before = json.loads((gpt_lora / "metrics.json").read_text())
    # A fresh model guesses about uniformly over the 58 characters; the
    # base run (the LoRA fine-tuning's "before") knows some English.
    assert metrics["val_loss_before"] == pytest.approx(math.log(58), abs=0.2)
    assert metrics["val_loss_before"] > base_before["val_loss_before"] + 0.5
    finetune_config = json.loads((out / "config.json").read_text())["finetune"]
    assert finetune_config["mode"] == "scratch"
    assert finetune_config["lora_rank"] is None
    assert finetune_config["learning_rate"] == LEARNING_RATES["scratch"]


def test_scratch_trains_every_weight(gpt_scratch):
    out, start = gpt_scratch
    assert changed(start, weights(out / "model.keras")) == set(start)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trainable_parameters"] == metrics["parameters"]
    assert metrics["val_loss_after"] < metrics["val_loss_before"] - 0.5


def test_scratch_weights_come_from_the_seed(places, gpt_scratch):
    _, start = gpt_scratch
    again = {}
    for seed in (0, 1):
        again[seed] = started(
            "gpt", places / "gpt", "--data", places / "user.txt",
            *SCRATCH_GPT[:2], "--iterations", "2", "--eval-interval", "2",
            "--no-jit", "--seed", seed, "--out", places / f"gpt-seed{seed}",
        )  # fmt: skip
    assert not changed(start, again[0])
    drawn = {p for p in start if p.endswith(("kernel", "embeddings"))}
    assert drawn and drawn <= changed(start, again[1])


def test_vit_scratch_starts_from_fresh_weights(places, vit_lora):
    out = places / "vit-scratch"
    start = started("vit", places / "vit", "--dataset", "digits",
                    "--mode", "scratch", *QUICK_VIT, "--out", out)  # fmt: skip
    base = weights(places / "vit" / "model.keras")
    assert changed(base, start) == set(base)
    assert changed(start, weights(out / "model.keras")) == set(start)
    metrics = json.loads((out / "metrics.json").read_text())
    lora = json.loads((vit_lora / "metrics.json").read_text())
    assert metrics["test_loss_before"] != pytest.approx(
        lora["test_loss_before"], abs=1e-3
    )  # the base run's
    assert metrics["trainable_parameters"] == metrics["parameters"]
    assert metrics["test_loss_after"] < metrics["test_loss_before"]


def test_digits_are_framed_like_mnist():
    from zoo.vit.finetune import DIGIT_BOX
    from zoo.vit.finetune import to_model_images

    digits = np.full((2, 8, 8, 1), 255, "uint8")
    images = to_model_images(digits, 28, DIGIT_BOX["mnist"])
    assert images.shape == (2, 28, 28, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() <= 255.0
    inside = np.zeros((28, 28), bool)
    inside[4:24, 4:24] = True  # a 20x20 box in the middle, black around
    np.testing.assert_allclose(images[0, ..., 0][inside], 255.0, atol=1e-3)
    assert np.all(images[0, ..., 0][~inside] == 0.0)
    # A run on the digits themselves takes them as they are.
    same = to_model_images(digits[:, :, :, :] // 2, 8, 1.0)
    np.testing.assert_array_equal(same, digits // 2)


def listing(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def bad_places(places):
    """Files the mistakes point at, beside the tiny runs."""
    (places / "short.txt").write_text("the cat sits.\n" * 3)
    (places / "unknown.txt").write_text(user_text() + '"Grüß dich" (1)\n')
    (places / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 200)
    (places / "other").mkdir(exist_ok=True)
    (places / "other" / "notes.txt").write_text("someone's files")
    (places / "file.txt").write_text("not a folder")
    cifar = places / "cifar"
    cifar.mkdir(exist_ok=True)
    from zoo.vit.config import PRESETS

    config = dataclasses.asdict(PRESETS["cifar10-small"])
    (cifar / "config.json").write_text(
        json.dumps({"task": "vit", "config": config, "command": "x"})
    )
    (cifar / "model.keras").write_bytes(b"")
    return places


FT_GPT = ["finetune", "gpt", "{P}/gpt", "--data", "{P}/user.txt"]
FT_VIT = ["finetune", "vit", "{P}/vit", "--dataset", "digits"]
# (arguments, what the one-line message must name); `{P}` is the folder.
CASES = [
    (["finetune", "translation", "{P}/gpt"], "task"),
    (["finetune", "gpt", "{P}/gpt"], "--data"),
    (["finetune", "gpt", "{P}/gpt", "--data", "{P}/nowhere.txt"], "--data"),
    (["finetune", "gpt", "{P}/gpt", "--data", "{P}/other"], "--data"),
    ([*FT_GPT, "--lora-rank", "0"], "--lora-rank"),
    ([*FT_GPT, "--lora-targets", "query,attention"], "--lora-targets"),
    ([*FT_GPT, "--mode", "full", "--lora-rank", "4"], "--lora-rank"),
    ([*FT_GPT, "--mode", "scratch", "--lora-rank", "4"], "--lora-rank"),
    ([*FT_GPT, "--mode", "scratch", "--lora-targets", "key"], "--lora-t"),
    ([*FT_VIT, "--mode", "scratch", "--lora-rank", "4"], "--lora-rank"),
    ([*FT_GPT, "--mode", "half"], "--mode"),
    ([*FT_GPT, "--learning-rate", "0"], "--learning-rate"),
    ([*FT_GPT, "--iterations", "25", "--eval-interval", "10"], "--iterations"),
    ([*FT_GPT, "--val-fraction", "1"], "--val-fraction"),
    ([*FT_GPT, "--prompt", ""], "--prompt"),
    ([*FT_GPT, "--prompt", "ß"], "--prompt"),
    ([*FT_GPT, "--replace-unknown", "ß"], "--replace-unknown"),
    ([*FT_GPT, "--out", "{P}/gpt"], "is the base run"),
    ([*FT_GPT, "--out", "{P}/other"], "not empty and holds no fine-tuning"),
    ([*FT_GPT, "--out", "{P}/file.txt"], "--out"),
    (
        ["finetune", "gpt", "{P}/gpt", "--data", "{P}/unknown.txt"],
        "outside the run's vocabulary of 58 ('\"' x2, ",
    ),
    (["finetune", "gpt", "{P}/gpt", "--data", "{P}/short.txt"], "window"),
    (["finetune", "gpt", "{P}/gpt", "--data", "{P}/latin1.txt"], "UTF-8"),
    (["finetune", "gpt", "{P}/vit", "--data", "{P}/user.txt"], "'vit' run"),
    (["finetune", "gpt", "{P}/nowhere", "--data", "{P}/user.txt"], "nowhere"),
    (["finetune", "vit", "{P}/vit"], "--dataset"),
    ([*FT_VIT[:4], "mnist"], "--dataset"),
    ([*FT_VIT, "--epochs", "0"], "--epochs"),
    ([*FT_VIT, "--validation-size", "1400"], "--validation-size"),
    (["finetune", "vit", "{P}/gpt", "--dataset", "digits"], "'gpt' run"),
    (["finetune", "vit", "{P}/cifar", "--dataset", "digits"], "grey images"),
    ([*FT_VIT, "--lora-targets", "head,", "--out", "{P}/v"], "--lora-targets"),
]


@pytest.mark.parametrize(
    "argv, named", CASES, ids=[" ".join(a[1:]) for a, _ in CASES]
)
def test_a_mistake_is_one_line_and_exit_2(argv, named, bad_places, capsys):
    before = listing(bad_places)
    argv = [a.replace("{P}", str(bad_places)) for a in argv]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    assert named in lines[0], lines[0]
    assert listing(bad_places) == before  # nothing written


def test_replace_unknown_maps_the_characters_it_lists(bad_places):
    out = bad_places / "gpt-replaced"
    finetune("gpt", bad_places / "gpt", "--data", bad_places / "unknown.txt",
             "--replace-unknown", " ", "--iterations", "2", "--no-jit",
             "--out", out)  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["replaced_characters"] == len('""üß()1')
    config = json.loads((out / "config.json").read_text())
    assert config["finetune"]["replace_unknown"] == " "
