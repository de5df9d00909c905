"""How each model family trains: its optimizer, learning-rate schedule,
loss and metrics, in one function per family.

The zoo's recipes (`python -m zoo train`), each trial of `python -m zoo
tune` and the tuning HyperModels all compile through these functions, so
a search scores exactly the training that a recipe later replays.
"""

import keras

from keras_transformer.losses import MaskedSparseCategoricalCrossentropy
from keras_transformer.metrics import MaskedAccuracy
from keras_transformer.metrics import Perplexity
from keras_transformer.optimizers import Adam
from keras_transformer.optimizers import AdamW
from keras_transformer.schedules import WarmupSchedule

__all__ = [
    "compile_gpt",
    "compile_transformer",
    "compile_vision_transformer",
    "warmup_cosine",
]

# Variables that AdamW does not decay (matched as parts of their names):
# biases, layer-norm scales and offsets, and for the ViT the learned
# positions and the class token.
NO_DECAY = ("bias", "gamma", "beta")
VIT_NO_DECAY = (*NO_DECAY, "position_embedding", "class_token")


def warmup_cosine(peak, warmup_steps, total_steps, start=0.0, end=0.0):
    """A rate that rises linearly from `start` to `peak` over
    `warmup_steps`, then follows a cosine down to `end` at `total_steps`;
    constant at `peak` after the warm-up when `total_steps` is `None`."""
    warmup = int(warmup_steps)
    if total_steps is None:
        decay_steps, alpha = 1, 1.0
    else:
        decay_steps, alpha = max(int(total_steps) - warmup, 1), end / peak
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=start,
        decay_steps=decay_steps,
        alpha=alpha,
        warmup_target=peak,
        warmup_steps=warmup,
    )


def compile_vision_transformer(
    model,
    *,
    learning_rate,
    weight_decay=0.05,
    warmup_steps=1,
    total_steps=None,
    label_smoothing=0.0,
    jit_compile=True,
):
    """Compiles a `VisionTransformer` as the zoo trains it: AdamW (each
    variable's gradient clipped to norm 1) with a linear warm-up from 0 to
    `learning_rate` and a cosine down to 0 at `total_steps`; smoothed
    cross-entropy; accuracy and the unsmoothed `cross_entropy` as metrics
    (the tuning objective: it ranks trials where accuracy ties).

    Args:
        model: a `VisionTransformer`.
        learning_rate: float. Peak rate, reached after `warmup_steps`.
        weight_decay: float. AdamW's decoupled decay (not applied to
            biases, norms, positions or the class token).
        warmup_steps: int. Steps of the linear warm-up (at least 1).
        total_steps: int or `None`. Optimizer steps of the whole run; the
            rate stays at its peak when `None`.
        label_smoothing: float in [0, 1).
        jit_compile: bool. Compile the train step with XLA.
    """
    optimizer = AdamW(
        warmup_cosine(learning_rate, max(int(warmup_steps), 1), total_steps),
        weight_decay=weight_decay,
        clipnorm=1.0,
    )
    optimizer.exclude_from_weight_decay(var_names=list(VIT_NO_DECAY))
    model.compile(
        optimizer=optimizer,
        loss=MaskedSparseCategoricalCrossentropy(
            pad_id=None, label_smoothing=label_smoothing
        ),
        metrics=[
            "accuracy",
            keras.metrics.SparseCategoricalCrossentropy(
                from_logits=True, name="cross_entropy"
            ),
        ],
        jit_compile=jit_compile,
    )


def compile_gpt(
    model,
    *,
    learning_rate,
    min_learning_rate=None,
    weight_decay=0.1,
    warmup_steps=100,
    total_steps=None,
    beta_2=0.99,
    grad_clip=1.0,
    label_smoothing=0.0,
    jit_compile=True,
):
    """Compiles a `GPT` as nanoGPT trains it: AdamW (beta_2 `beta_2`, the
    global gradient norm clipped to `grad_clip`) with a linear warm-up
    from `learning_rate / (warmup_steps + 1)` (the first step already
    learns) to `learning_rate`, then a cosine down to `min_learning_rate`
    at `total_steps`; cross-entropy over every position; token accuracy.

    Args:
        model: a `GPT`.
        learning_rate: float. Peak rate.
        min_learning_rate: float or `None` (`learning_rate / 10`). The
            rate at `total_steps`.
        weight_decay: float. On matrices and embeddings only.
        warmup_steps: int. Steps of the linear warm-up (0: none).
        total_steps: int or `None`. Optimizer steps of the whole run; the
            rate stays at its peak when `None`.
        beta_2: float. Adam's second-moment decay.
        grad_clip: float. Largest global gradient norm.
        label_smoothing: float in [0, 1).
        jit_compile: bool. Compile the train step with XLA.
    """
    if min_learning_rate is None:
        min_learning_rate = learning_rate / 10
    schedule = warmup_cosine(
        learning_rate,
        warmup_steps,
        total_steps,
        start=learning_rate / (int(warmup_steps) + 1),
        end=min_learning_rate,
    )
    optimizer = AdamW(
        schedule,
        weight_decay=weight_decay,
        beta_1=0.9,
        beta_2=beta_2,
        global_clipnorm=grad_clip,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
    model.compile(
        optimizer=optimizer,
        loss=MaskedSparseCategoricalCrossentropy(
            pad_id=None, label_smoothing=label_smoothing
        ),
        metrics=[MaskedAccuracy(pad_id=None, name="accuracy")],
        jit_compile=jit_compile,
    )


def compile_transformer(
    model,
    *,
    warmup_steps=4000,
    lr_scale=1.0,
    label_smoothing=0.1,
    pad_id=0,
    jit_compile=True,
):
    """Compiles an encoder-decoder `Transformer` as "Attention Is All You
    Need" trains it: Adam (beta_2 0.98, epsilon 1e-9, each gradient
    clipped to norm 1) on the `WarmupSchedule` of `model.d_model`; smoothed
    cross-entropy over real target tokens; token accuracy and perplexity
    (unsmoothed, the tuning objective) over the same tokens.

    Args:
        model: a `Transformer`.
        warmup_steps: int. Steps of the linear warm-up.
        lr_scale: float. Multiplies the schedule.
        label_smoothing: float in [0, 1).
        pad_id: int. The padding token, left out of loss and metrics.
        jit_compile: bool. Compile the train step with XLA.
    """
    schedule = WarmupSchedule(
        model.d_model, warmup_steps=warmup_steps, scale=lr_scale
    )
    model.compile(
        optimizer=Adam(
            schedule, beta_1=0.9, beta_2=0.98, epsilon=1e-9, clipnorm=1.0
        ),
        loss=MaskedSparseCategoricalCrossentropy(
            pad_id=pad_id, label_smoothing=label_smoothing
        ),
        metrics=[
            MaskedAccuracy(pad_id=pad_id, name="accuracy"),
            Perplexity(pad_id=pad_id, name="perplexity"),
        ],
        jit_compile=jit_compile,
    )
