"""The HyperModels: search spaces, what a trial builds, objectives, and
keras-tuner's resume of a search folder."""

import keras
import keras_tuner
import numpy as np
import pytest

from keras_transformer.tuning import GPTHyperModel
from keras_transformer.tuning import Range
from keras_transformer.tuning import TransformerHyperModel
from keras_transformer.tuning import VisionTransformerHyperModel

TINY = {"num_layers": 1, "d_model": 16, "num_heads": 2, "d_ff_multiple": 2}


def vit(**kwargs):
    args = dict(image_size=8, patch_size=4, num_classes=3, channels=1)
    return VisionTransformerHyperModel(**args, jit_compile=False, **kwargs)


def images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1)).astype("float32")
    return x, rng.integers(0, 3, n)


def test_a_trial_builds_the_model_its_values_describe():
    hypermodel = vit()
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)  # declares the space with its defaults
    hp.values.update(num_layers=4, d_model=128, num_heads=8, d_ff_multiple=4)
    hp.values.update(dropout_rate=0.2)
    model = hypermodel.build(hp)
    assert (model.num_layers, model.d_model, model.num_heads) == (4, 128, 8)
    assert model.d_ff == 512 and model.dropout_rate == pytest.approx(0.2)
    assert keras.ops.convert_to_numpy(
        model.optimizer.learning_rate
    ) == pytest.approx(0.0)  # the warm-up starts at 0
    assert model.loss.label_smoothing == hp.values["label_smoothing"]


def test_overrides_fix_narrow_and_range_without_subclassing():
    hypermodel = vit(
        search_space={
            "num_layers": 3,  # fixed
            "d_model": [32, 64],  # narrowed choices
            "learning_rate": Range(1e-4, 1e-2, log=True),
            "dropout_rate": Range(0.0, 0.5, step=0.25),
        }
    )
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    space = {p.name: p for p in hp.space}
    assert type(space["num_layers"]).__name__ == "Fixed"
    assert space["d_model"].values == [32, 64]
    assert space["learning_rate"].sampling == "log"
    rate = space["learning_rate"]
    assert (rate.min_value, rate.max_value) == (1e-4, 1e-2)
    assert space["dropout_rate"].step == 0.25
    # The library's own default space is untouched.
    assert VisionTransformerHyperModel.SEARCH_SPACE["num_layers"] == [2, 4, 6]


def test_every_head_count_must_divide_every_width():
    with pytest.raises(ValueError, match=r"\(48, 32\)"):
        vit(search_space={"d_model": [32, 48], "num_heads": [2, 32]})
    with pytest.raises(ValueError, match="must be fixed values, lists or"):
        vit(search_space={"d_model": Range(16.0, 64.0)})
    vit(search_space={"d_model": Range(32, 64, step=32), "num_heads": [2, 4]})


def test_unknown_names_and_bad_ranges_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown hyper-parameters.*d_fff"):
        vit(search_space={"d_fff": 2})
    with pytest.raises(ValueError, match="low <= high"):
        Range(3, 1)
    with pytest.raises(ValueError, match="log Range needs low > 0"):
        Range(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="choices for 'd_model' are empty"):
        vit(search_space={"d_model": []})


@pytest.mark.parametrize(
    "make, data, objective",
    [
        ("vit", "images", "val_cross_entropy"),
        ("gpt", "tokens", "val_loss"),
        ("transformer", "pairs", "val_perplexity"),
    ],
)
def test_training_reports_the_family_objective(make, data, objective):
    rng = np.random.default_rng(0)
    if make == "vit":
        space = {**TINY, "label_smoothing": 0.1}
        hypermodel, (x, y) = vit(search_space=space), images()
    elif make == "gpt":
        hypermodel = GPTHyperModel(
            vocab_size=11, max_length=8, search_space=TINY, jit_compile=False
        )
        ids = rng.integers(0, 11, (16, 9))
        x, y = ids[:, :-1], ids[:, 1:]
    else:
        hypermodel = TransformerHyperModel(
            src_vocab_size=13,
            tgt_vocab_size=11,
            max_length=8,
            search_space=TINY,
            jit_compile=False,
        )
        src = rng.integers(1, 13, (16, 6))
        tgt = rng.integers(1, 11, (16, 7))
        tgt[:, -2:] = 0  # padding
        x, y = (src, tgt[:, :-1]), tgt[:, 1:]
    assert hypermodel.objective.name == objective
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    history = hypermodel.fit(
        hp, model, x, y, validation_data=(x, y), epochs=1, verbose=0
    )
    assert np.isfinite(history.history[objective][-1])
    if make == "vit":  # unsmoothed, whatever the trial's smoothing
        expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            y, model.predict(x, verbose=0)
        )
        assert model.evaluate(x, y, verbose=0, return_dict=True)[
            "cross_entropy"
        ] == pytest.approx(float(expected), rel=1e-4)
    if make == "gpt":  # the loss is the unsmoothed mean over positions
        rng = np.random.default_rng(1)  # confident logits: smoothing shows
        for weight in model.trainable_weights:
            weight.assign(rng.normal(0.0, 0.5, weight.shape))
        expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            y, model.predict(x, verbose=0)
        )
        assert model.evaluate(x, y, verbose=0, return_dict=True)[
            "loss"
        ] == pytest.approx(float(expected), rel=1e-4)
    if make == "transformer":  # perplexity is exp(unsmoothed loss)
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=None
        )(y, model.predict(x, verbose=0))
        mask = y != 0
        expected = np.exp(np.asarray(loss)[mask].mean())
        assert model.evaluate(x, y, verbose=0, return_dict=True)[
            "perplexity"
        ] == pytest.approx(expected, rel=1e-4)


def test_score_fn_result_is_reported_with_the_last_epoch():
    hypermodel = vit(search_space=TINY, score_fn=lambda model: {"score": 7.0})
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    x, y = images()
    result = hypermodel.fit(
        hp, model, x, y, validation_data=(x, y), epochs=2, verbose=0
    )
    assert result["score"] == 7.0
    assert set(result) >= {"loss", "val_loss", "val_accuracy"}


def test_a_search_folder_resumes_instead_of_starting_over(tmp_path):
    x, y = images()
    space = {**TINY, "d_model": [8, 16, 32], "dropout_rate": [0.0, 0.1]}

    def tuner(trials):
        hypermodel = vit(search_space=space)
        return keras_tuner.RandomSearch(
            hypermodel,
            objective=hypermodel.objective,
            max_trials=trials,
            seed=1,
            directory=tmp_path,
            project_name="search",
            overwrite=False,
        )

    first = tuner(2)
    first.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    before = {t.trial_id: t.score for t in first.oracle.trials.values()}
    again = tuner(4)
    again.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    after = {t.trial_id: t.score for t in again.oracle.trials.values()}
    assert len(before) == 2 and len(after) == 4
    assert {k: after[k] for k in before} == before  # kept, not re-run


def _optimizer_settings(model):
    config = model.optimizer.get_config()
    schedule = config.pop("learning_rate")
    config.pop("name", None)
    return config, schedule


@pytest.mark.parametrize("make", ["vit", "gpt", "transformer"])
def test_a_trial_compiles_with_the_family_recipe(make):
    """Each HyperModel compiles through `keras_transformer.recipes`, the
    functions the zoo trains with: a trial's optimizer, schedule, loss
    and metrics equal those of the recipe given the trial's values."""
    from keras_transformer import recipes

    hp = keras_tuner.HyperParameters()
    if make == "vit":
        hypermodel = vit(search_space=TINY, total_steps=50)
        trial = hypermodel.build(hp)
        values = hp.values
        model = hypermodel.build_model(values)
        recipes.compile_vision_transformer(
            model,
            learning_rate=values["learning_rate"],
            weight_decay=values["weight_decay"],
            warmup_steps=values["warmup_steps"],
            total_steps=50,
            label_smoothing=values["label_smoothing"],
        )
    elif make == "gpt":
        hypermodel = GPTHyperModel(
            vocab_size=11, max_length=8, search_space=TINY, total_steps=50
        )
        trial = hypermodel.build(hp)
        values = hp.values
        model = hypermodel.build_model(values)
        recipes.compile_gpt(
            model,
            learning_rate=values["learning_rate"],
            weight_decay=values["weight_decay"],
            warmup_steps=values["warmup_steps"],
            total_steps=50,
        )
    else:
        hypermodel = TransformerHyperModel(
            src_vocab_size=13, tgt_vocab_size=11, max_length=8,
            search_space=TINY,
        )  # fmt: skip
        trial = hypermodel.build(hp)
        values = hp.values
        model = hypermodel.build_model(values)
        recipes.compile_transformer(
            model,
            warmup_steps=values["warmup_steps"],
            lr_scale=values["lr_scale"],
            label_smoothing=values["label_smoothing"],
        )
    assert _optimizer_settings(trial) == _optimizer_settings(model)
    assert trial.loss.get_config() == model.loss.get_config()
    names = [m.name for m in trial.metrics]
    assert names == [m.name for m in model.metrics]
