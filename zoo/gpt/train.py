"""Train a character-level GPT on Tiny Shakespeare.

    python -m zoo train gpt --dataset shakespeare

Reads top to bottom: arguments, text and the character tokenizer (saved
with the run), batches of random windows, model, AdamW with warm-up and
cosine decay, training by "epochs" of `eval_interval` steps (validation
after each, resume after a kill), then the validation loss over the
whole split and a sample of generated text.
"""

import dataclasses
import sys

from zoo import cli
from zoo import files
from zoo import runs
from zoo.gpt import config as gpt_config

RESUME_KEYS = ("task", "preset", "config", "seed", "precision", "strategy")
TOKENIZER_DIR = "tokenizer"
EVAL_BATCH = 64
SAMPLE_PROMPT = "ROMEO:"


def add_arguments(parser):
    parser.add_argument(
        "--dataset", required=True, choices=sorted(gpt_config.DEFAULT_PRESET)
    )
    parser.add_argument(
        "--preset",
        choices=sorted(gpt_config.PRESETS),
        help="named configuration (default: the dataset's own)",
    )
    parser.add_argument(
        "--iterations",
        type=cli.POSITIVE,
        help="override the preset (a multiple of its eval_interval)",
    )
    parser.add_argument(
        "--batch-size", type=cli.POSITIVE, help="override the preset"
    )
    parser.add_argument(
        "--out",
        type=cli.OUT_DIR,
        help="run directory (default: runs/gpt-DATASET)",
    )
    runs.add_hparams_argument(parser)
    runs.add_extend_argument(parser, "iterations")
    return runs.add_common_arguments(parser)


def encode_text(run, text, verbose=True):
    """`(tokenizer, {"train": ids, "val": ids})`: the run's character
    tokenizer (the sorted characters of the whole text, as nanoGPT; loaded
    when saved) and each split as int32 NumPy ids."""
    import numpy as np

    from keras_transformer.text import CharTokenizer

    path = run.path / TOKENIZER_DIR
    if (path / "characters.json").is_file():
        tokenizer = CharTokenizer.load(path)
    else:
        tokenizer = CharTokenizer.from_text(text["train"] + text["val"])
        with files.replacing(path) as temp:
            tokenizer.save(temp)
    ids = {
        split: np.asarray(tokenizer.tokenize(t).flat_values, "int32")
        for split, t in text.items()
    }
    if verbose:
        print(
            f"{tokenizer.vocab_size} characters; "
            + ", ".join(f"{k} {len(v):,} tokens" for k, v in ids.items())
        )
    return tokenizer, ids


def random_windows(ids, context, batch_size, seed):
    """Endless batches of `(x, y)` windows at random offsets (nanoGPT's
    sampling), `y` being `x` shifted by one token; seeded."""
    import tensorflow as tf

    ids = tf.constant(ids)
    starts = len(ids) - context  # a window needs context + 1 tokens
    offsets = tf.range(context + 1, dtype=tf.int64)

    def window(r):
        start = tf.math.floormod(r, starts)
        w = tf.gather(ids, start[:, None] + offsets[None, :])
        return w[:, :-1], w[:, 1:]

    return (
        tf.data.Dataset.random(seed=seed)
        .batch(batch_size, drop_remainder=True)
        .map(window)
        .prefetch(tf.data.AUTOTUNE)
    )


def all_windows(ids, context, batch_size=EVAL_BATCH):
    """Every position of `ids` once: consecutive windows of `context`
    tokens (the loss of a position depends on the up to `context - 1`
    tokens before it in its window, as in training)."""
    import tensorflow as tf

    count = (len(ids) - 1) // context
    x = ids[: count * context].reshape(count, context)
    y = ids[1 : count * context + 1].reshape(count, context)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def build_model(cfg, vocab_size):
    from keras_transformer.models import GPT

    model = GPT(
        vocab_size=vocab_size,
        max_length=cfg.context,
        num_layers=cfg.num_layers,
        d_model=cfg.d_model,
        num_heads=cfg.num_heads,
        d_ff=cfg.d_ff,
        dropout_rate=cfg.dropout_rate,
        tie_embeddings=cfg.tie_embeddings,
        name="gpt",
    )
    model.build()
    return model


def compile_model(model, cfg, jit):
    import keras

    from keras_transformer.losses import MaskedSparseCategoricalCrossentropy
    from keras_transformer.metrics import MaskedAccuracy

    decay_steps = max(cfg.iterations - cfg.warmup_iters, 1)
    # Linear warm-up from lr / (warmup + 1), as nanoGPT's (it + 1) /
    # (warmup + 1): the first step already learns.
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate / (cfg.warmup_iters + 1),
        warmup_target=cfg.learning_rate,
        warmup_steps=cfg.warmup_iters,
        decay_steps=decay_steps,
        alpha=cfg.min_learning_rate / cfg.learning_rate,
    )
    optimizer = keras.optimizers.AdamW(
        schedule,
        weight_decay=cfg.weight_decay,
        beta_1=0.9,
        beta_2=cfg.beta_2,
        global_clipnorm=cfg.grad_clip,
    )
    # Decay matrices and embeddings, not biases or layer-norm scales.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=MaskedSparseCategoricalCrossentropy(
            pad_id=None, label_smoothing=cfg.label_smoothing
        ),
        metrics=[MaskedAccuracy(pad_id=None, name="accuracy")],
        jit_compile=jit,
    )


def main(argv=None):
    parser = add_arguments(
        cli.ArgumentParser(
            prog="python -m zoo train gpt",
            description=__doc__.splitlines()[0],
        )
    )
    args = parser.parse_args(argv)

    from zoo import datasets

    # Every check before the first write: arguments, settings, folder.
    preset, tuned = runs.hparams_preset(args, "gpt")
    preset, cfg = gpt_config.resolve(
        args.dataset,
        preset,
        **runs.overrides(
            tuned,
            iterations=args.iterations,
            batch_size=args.batch_size,
        ),
    )
    runs.check_tuned(cfg, tuned, args.hparams)
    if cfg.iterations % cfg.eval_interval:
        raise cli.UsageError(
            f"--iterations {cfg.iterations} must be a multiple of the "
            f"preset's eval_interval ({cfg.eval_interval})."
        )
    run = runs.RunDir(args.out or f"runs/gpt-{args.dataset}")
    record = {
        "task": "gpt",
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        "seed": args.seed,
        "precision": args.precision,
        "strategy": args.strategy,
        "data_dir": args.data_dir and str(args.data_dir),
        "command": runs.command_line(),
    }
    status = run.check(record, RESUME_KEYS, args.extend, "iterations")
    if status == "finished":
        return run.finished_metrics()
    text = runs.load_data(datasets.load_shakespeare, args.data_dir)
    runs.configure_cpu_replicas(args.cpu_replicas)

    import keras

    from zoo import checkpoints
    from zoo.gpt import evaluate as gpt_evaluate

    with run.starting(record, extend=status == "extend"):
        print(f"Run directory: {run.path}\nPreset {preset}: {cfg}")
        keras.utils.set_random_seed(args.seed)
        keras.config.set_dtype_policy(args.precision)
        tokenizer, ids = encode_text(run, text)
        for split, split_ids in ids.items():
            if len(split_ids) <= cfg.context:
                raise cli.UsageError(
                    f"The {split} text has {len(split_ids)} characters, "
                    f"fewer than a window of context {cfg.context} + 1."
                )
        train = random_windows(
            ids["train"], cfg.context, cfg.batch_size, args.seed
        )
        val = all_windows(ids["val"], cfg.context)
        steps = cfg.eval_interval
        if args.steps_per_epoch:
            steps = min(steps, args.steps_per_epoch)

        strategy = runs.make_strategy(args.strategy)
        with strategy.scope():
            model = build_model(cfg, tokenizer.vocab_size)
            jit = not args.no_jit and args.strategy == "default"
            compile_model(model, cfg, jit)
            state = checkpoints.restore(run, model)
        epochs = cfg.iterations // cfg.eval_interval
        print(
            f"{model.count_params():,} parameters; {epochs} x {steps} steps "
            f"of {cfg.batch_size} x {cfg.context} tokens"
        )

    callbacks = runs.training_callbacks(run, state, "val_loss", 0)
    model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        initial_epoch=state["epoch"],
        steps_per_epoch=steps,
        shuffle=False,  # the windows are drawn at random already
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    train_seconds = callbacks[0].train_seconds
    best = callbacks[0].best_weights()
    if best is not None:
        model.load_weights(best)
    val_loss, val_accuracy = model.evaluate(val, verbose=0)
    run.save_model(model)
    sample = gpt_evaluate.generate_text(
        model, tokenizer, SAMPLE_PROMPT, 300, temperature=0.8, top_k=40
    )
    files.write_text(run.path / "sample.txt", sample + "\n")

    metrics, _ = runs.record_results(
        run,
        model,
        record,
        train_seconds,
        state["epoch"],
        lambda history: {
            "val_loss": float(val_loss),
            "val_accuracy": float(val_accuracy),
            "val_tokens": int((len(ids["val"]) - 1) // cfg.context)
            * cfg.context,
        },
        title=f"GPT {preset}",
    )
    print(
        f"validation loss {val_loss:.4f} nats per character over the whole "
        f"split; training {train_seconds:.0f} s\n--- sample ---\n{sample}"
    )
    return metrics


if __name__ == "__main__":
    main()
