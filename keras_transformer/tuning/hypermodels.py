"""keras-tuner HyperModels for the three model families."""

import keras_tuner

from keras_transformer import recipes
from keras_transformer.tuning import space as space_lib
from keras_transformer.tuning.space import Range

# What every family searches. `d_ff_multiple` gives d_ff = multiple *
# d_model; every num_heads divides every d_model.
_ARCHITECTURE = {
    "num_layers": [2, 4, 6],
    "d_model": [64, 128, 256],
    "num_heads": [2, 4, 8],
    "d_ff_multiple": [2, 4],
    "dropout_rate": Range(0.0, 0.3, step=0.1),
}


class _FamilyHyperModel(keras_tuner.HyperModel):
    """Shared by the three families: the search space (the class's
    `SEARCH_SPACE` updated by the user's `search_space`), declaring it on
    a trial's `HyperParameters`, and `fit` with an optional extra score."""

    SEARCH_SPACE = {}
    OBJECTIVE = None  # keras_tuner.Objective

    def __init__(
        self,
        search_space=None,
        score_fn=None,
        jit_compile=True,
        name=None,
        **model_args,
    ):
        super().__init__(name=name, tunable=True)
        family = type(self).__name__
        self.search_space = space_lib.merge(
            self.SEARCH_SPACE, search_space, family
        )
        space_lib.check_heads_divide(self.search_space)
        self.score_fn = score_fn
        self.jit_compile = jit_compile
        self.model_args = model_args
        self.objective = self.OBJECTIVE

    def values(self, hp):
        """Declares the search space on `hp` (in the space's order) and
        returns the trial's values by name."""
        return {
            name: space_lib.declare(hp, name, spec)
            for name, spec in self.search_space.items()
        }

    @staticmethod
    def architecture(values):
        """The model constructor's tuned arguments for a trial's `values`
        (`d_ff` from `d_ff_multiple`)."""
        return {
            "num_layers": int(values["num_layers"]),
            "d_model": int(values["d_model"]),
            "num_heads": int(values["num_heads"]),
            "d_ff": int(values["d_ff_multiple"] * values["d_model"]),
            "dropout_rate": float(values["dropout_rate"]),
        }

    def build(self, hp):
        values = self.values(hp)
        model = self.build_model(values)
        self.compile_model(model, values)
        return model

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit`; with `score_fn`, returns the last epoch's metrics
        and `score_fn(model)` (a dict, such as `{"bleu": 31.2}`), so that a
        score computed outside Keras can be the objective."""
        history = model.fit(*args, **kwargs)
        if self.score_fn is None:
            return history
        last = {k: float(v[-1]) for k, v in history.history.items() if v}
        return {**last, **self.score_fn(model)}


class _TotalStepsHyperModel(_FamilyHyperModel):
    """A family whose learning rate follows a cosine over `total_steps`
    optimizer steps."""

    def __init__(
        self,
        search_space=None,
        total_steps=None,
        score_fn=None,
        jit_compile=True,
        name=None,
        **model_args,
    ):
        super().__init__(
            search_space,
            score_fn=score_fn,
            jit_compile=jit_compile,
            name=name,
            **model_args,
        )
        self.total_steps = total_steps


class VisionTransformerHyperModel(_TotalStepsHyperModel):
    """Searches `models.VisionTransformer` shapes and training settings;
    the objective is the validation cross-entropy without label smoothing
    (`val_cross_entropy`, in nats): on a validation set of a few hundred
    images, accuracy moves in steps of one image and ties often, while the
    cross-entropy still ranks the trials. Validation accuracy is reported
    too; set `hypermodel.objective = keras_tuner.Objective("val_accuracy",
    "max")` to search by it.

    The default search space (`SEARCH_SPACE`): `num_layers` in [2, 4, 6],
    `d_model` in [64, 128, 256], `num_heads` in [2, 4, 8], `d_ff_multiple`
    in [2, 4] (d_ff = multiple x d_model), `dropout_rate` 0.0-0.3 by 0.1,
    `learning_rate` 3e-4 to 3e-3 (log scale), `label_smoothing` in
    [0.0, 0.1], and fixed `weight_decay` 0.05 and `warmup_steps` 100.
    Each trial compiles with `recipes.compile_vision_transformer`, the
    zoo's ViT recipe: AdamW's rate rises linearly for `warmup_steps`, then
    follows a cosine down to 0 at `total_steps` (constant when
    `total_steps` is `None`).

    Args:
        search_space: dict overriding entries of the default space by
            name: a fixed value, a list of choices or a `Range`.
        total_steps: int or `None`. Optimizer steps in a trial.
        score_fn: optional `model -> dict` computed after training and
            reported with the epoch metrics (set `objective` to one of its
            keys).
        jit_compile: bool. Compile with XLA.
        **model_args: the fixed `VisionTransformer` arguments:
            `image_size`, `patch_size`, `num_classes`, `channels`, ...

    Example:

    >>> import keras_tuner
    >>> hypermodel = VisionTransformerHyperModel(
    ...     image_size=8, patch_size=2, num_classes=10, channels=1,
    ...     search_space={"num_layers": 1, "d_model": [32, 64]},
    ... )
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    >>> model.count_params() > 0, hypermodel.objective.name
    (True, 'val_cross_entropy')
    """

    SEARCH_SPACE = {
        **_ARCHITECTURE,
        "learning_rate": Range(3e-4, 3e-3, log=True),
        "label_smoothing": [0.0, 0.1],
        "weight_decay": 0.05,
        "warmup_steps": 100,
    }
    OBJECTIVE = keras_tuner.Objective("val_cross_entropy", "min")

    def build_model(self, values):
        from keras_transformer.models import VisionTransformer

        model = VisionTransformer(
            **self.model_args, **self.architecture(values)
        )
        size = model.image_size
        channels = self.model_args.get("channels", 3)
        model.build((None, size[0], size[1], channels))
        return model

    def compile_model(self, model, values):
        recipes.compile_vision_transformer(
            model,
            learning_rate=float(values["learning_rate"]),
            weight_decay=float(values["weight_decay"]),
            warmup_steps=int(values["warmup_steps"]),
            total_steps=self.total_steps,
            label_smoothing=float(values["label_smoothing"]),
            jit_compile=self.jit_compile,
        )


class GPTHyperModel(_TotalStepsHyperModel):
    """Searches `models.GPT` shapes and training settings; the objective
    is the validation loss (cross-entropy in nats, no label smoothing, so
    trials compare).

    The default search space: the architecture entries of
    `VisionTransformerHyperModel` (`num_layers`, `d_model`, `num_heads`,
    `d_ff_multiple`, `dropout_rate`), `learning_rate` 3e-4 to 3e-3 (log
    scale), and fixed `weight_decay` 0.1 and `warmup_steps` 100. Each
    trial compiles with `recipes.compile_gpt`, the zoo's GPT recipe
    (AdamW, linear warm-up then a cosine to a tenth of the rate at
    `total_steps`).

    Args:
        search_space: dict overriding entries of the default space.
        total_steps: int or `None`. Optimizer steps in a trial.
        score_fn: optional `model -> dict` reported after training.
        jit_compile: bool. Compile with XLA.
        **model_args: the fixed `GPT` arguments: `vocab_size`,
            `max_length`, `tie_embeddings`, ...

    Example:

    >>> import keras_tuner
    >>> hypermodel = GPTHyperModel(
    ...     vocab_size=65, max_length=32, search_space={"num_layers": 1}
    ... )
    >>> hp = keras_tuner.HyperParameters()
    >>> model = hypermodel.build(hp)
    >>> ", ".join(sorted(hp.values)[:3])
    'd_ff_multiple, d_model, dropout_rate'
    """

    SEARCH_SPACE = {
        **_ARCHITECTURE,
        "learning_rate": Range(3e-4, 3e-3, log=True),
        "weight_decay": 0.1,
        "warmup_steps": 100,
    }
    OBJECTIVE = keras_tuner.Objective("val_loss", "min")

    def build_model(self, values):
        from keras_transformer.models import GPT

        model = GPT(**self.model_args, **self.architecture(values))
        model.build()
        return model

    def compile_model(self, model, values):
        recipes.compile_gpt(
            model,
            learning_rate=float(values["learning_rate"]),
            weight_decay=float(values["weight_decay"]),
            warmup_steps=int(values["warmup_steps"]),
            total_steps=self.total_steps,
            jit_compile=self.jit_compile,
        )


class TransformerHyperModel(_FamilyHyperModel):
    """Searches encoder-decoder `models.Transformer` shapes and training
    settings; the objective is validation perplexity over real target
    tokens (without label smoothing, so trials with different smoothing
    compare). Pass `score_fn` (for example BLEU of greedy translations)
    and set `hypermodel.objective` to score trials by it instead.

    The default search space: the shared architecture entries
    (`num_layers`, `d_model`, `num_heads`, `d_ff_multiple`,
    `dropout_rate`), `warmup_steps` in [400, 1000, 4000], `lr_scale`
    (the `WarmupSchedule` multiplier) 0.25 to 2.0 in log scale, and
    `label_smoothing` in [0.0, 0.1]. Each trial compiles with
    `recipes.compile_transformer` (Adam with beta_2 0.98, as in
    "Attention Is All You Need"), the zoo's translation recipe.

    Args:
        search_space: dict overriding entries of the default space.
        score_fn: optional `model -> dict` reported after training.
        jit_compile: bool. Compile with XLA.
        **model_args: the fixed `Transformer` arguments:
            `src_vocab_size`, `tgt_vocab_size`, `max_length`,
            `norm_first`, ...

    Example:

    >>> import keras_tuner
    >>> hypermodel = TransformerHyperModel(
    ...     src_vocab_size=50, tgt_vocab_size=60, max_length=16,
    ...     search_space={"num_layers": 1, "d_model": 32, "num_heads": 4},
    ... )
    >>> hypermodel.build(keras_tuner.HyperParameters()).d_model
    32
    """

    SEARCH_SPACE = {
        **_ARCHITECTURE,
        "warmup_steps": [400, 1000, 4000],
        "lr_scale": Range(0.25, 2.0, log=True),
        "label_smoothing": [0.0, 0.1],
    }
    OBJECTIVE = keras_tuner.Objective("val_perplexity", "min")

    def build_model(self, values):
        from keras_transformer.models import Transformer

        model = Transformer(**self.model_args, **self.architecture(values))
        model.build()
        return model

    def compile_model(self, model, values):
        recipes.compile_transformer(
            model,
            warmup_steps=int(values["warmup_steps"]),
            lr_scale=float(values["lr_scale"]),
            label_smoothing=float(values["label_smoothing"]),
            pad_id=self.model_args.get("pad_id", 0),
            jit_compile=self.jit_compile,
        )
