"""Train a Vision Transformer: `python -m zoo train vit --dataset digits`.

Reads top to bottom: arguments, data pipelines, model, training with
resume and best-checkpoint keeping, test evaluation, plots.
"""

import dataclasses
import sys

from zoo import cli
from zoo import datasets
from zoo import runs
from zoo.vit import config as vit_config

RESUME_KEYS = ("task", "preset", "config", "seed", "precision", "strategy")


def add_arguments(parser):
    parser.add_argument(
        "--dataset", required=True, choices=sorted(vit_config.DEFAULT_PRESET)
    )
    parser.add_argument(
        "--preset",
        choices=sorted(vit_config.PRESETS),
        help="named configuration (default: the dataset's own)",
    )
    parser.add_argument(
        "--epochs", type=cli.POSITIVE, help="override the preset"
    )
    parser.add_argument(
        "--batch-size", type=cli.POSITIVE, help="override the preset"
    )
    parser.add_argument(
        "--learning-rate",
        type=cli.number(0.0, low_open=True),
        help="override the preset's peak rate",
    )
    parser.add_argument(
        "--dropout-rate", type=cli.RATE, help="override the preset"
    )
    parser.add_argument(
        "--out",
        type=cli.OUT_DIR,
        help="run directory (default: runs/vit-DATASET)",
    )
    runs.add_hparams_argument(parser)
    runs.add_extend_argument(parser, "epochs")
    return runs.add_common_arguments(parser)


def make_pipelines(cfg, data, seed, batch_size):
    """Seeded train/validation split of the training images, shuffling,
    batching, augmentation with Keras preprocessing layers, prefetch."""
    import keras
    import numpy as np

    (x_train, y_train), (x_test, y_test) = data
    order = np.random.default_rng(seed).permutation(len(x_train))
    val_idx, train_idx = (
        order[: cfg.validation_size],
        order[cfg.validation_size :],
    )
    augment = []
    if cfg.translate:
        augment.append(
            keras.layers.RandomTranslation(
                cfg.translate,
                cfg.translate,
                fill_mode=cfg.translate_fill,
                seed=seed,
            )
        )
    if cfg.flip:
        augment.append(keras.layers.RandomFlip("horizontal", seed=seed))
    augment = keras.Sequential(augment) if augment else None

    train = batches(
        x_train[train_idx], y_train[train_idx], batch_size, seed, augment
    )
    val = batches(x_train[val_idx], y_train[val_idx], batch_size)
    test = batches(x_test, y_test, batch_size)
    steps = len(train_idx) // batch_size
    return train, val, test, steps


def batches(x, y, batch_size, shuffle_seed=None, augment=None):
    """A batched float32 `tf.data` pipeline of images and labels; shuffled
    (full batches only) when `shuffle_seed` is given, augmented by the
    `augment` layer when given."""
    import tensorflow as tf

    training = shuffle_seed is not None
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(
            len(x), seed=shuffle_seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(
        lambda images, labels: (tf.cast(images, "float32"), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if augment is not None:
        ds = ds.map(
            lambda images, labels: (augment(images, training=True), labels),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def build_model(cfg):
    from keras_transformer.models import VisionTransformer

    model = VisionTransformer(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        num_classes=cfg.num_classes,
        num_layers=cfg.num_layers,
        d_model=cfg.d_model,
        num_heads=cfg.num_heads,
        d_ff=cfg.d_ff,
        dropout_rate=cfg.dropout_rate,
        channels=cfg.channels,
        name="vision_transformer",
    )
    model.build((None, cfg.image_size, cfg.image_size, cfg.channels))
    return model


def compile_model(model, cfg, total_steps, jit):
    import keras

    from keras_transformer.losses import MaskedSparseCategoricalCrossentropy

    warmup = max(1, int(total_steps * cfg.warmup_epochs / cfg.epochs))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=cfg.learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=cfg.weight_decay, clipnorm=1.0
    )
    optimizer.exclude_from_weight_decay(
        var_names=["bias", "gamma", "beta", "position_embedding", "class_token"]
    )
    model.compile(
        optimizer=optimizer,
        loss=MaskedSparseCategoricalCrossentropy(
            pad_id=None, label_smoothing=cfg.label_smoothing
        ),
        metrics=["accuracy"],
        jit_compile=jit,
    )


def save_attention_plot(model, run, test_images, test_labels, class_names):
    from keras_transformer.visualization import plot_attention_overlays

    images = test_images[:8]
    maps = model.class_token_attention(images.astype("float32"))
    predicted = model.predict(images.astype("float32"), verbose=0).argmax(-1)
    titles = [
        f"{class_names[p]} (true {class_names[t]})"
        for p, t in zip(predicted, test_labels[:8], strict=True)
    ]
    plot_attention_overlays(
        images,
        maps,
        titles,
        run.path / "attention_maps.png",
        title="Class-token attention, last layer (mean over heads)",
    )


def class_names(dataset):
    if dataset == "cifar10":
        return datasets.CIFAR10_CLASSES
    return tuple(str(i) for i in range(10))


def main(argv=None):
    parser = add_arguments(
        cli.ArgumentParser(
            prog="python -m zoo train vit", description=__doc__.splitlines()[0]
        )
    )
    args = parser.parse_args(argv)

    # Every check before the first write: arguments, settings, folder.
    preset, tuned = runs.hparams_preset(args, "vit")
    preset, cfg = vit_config.resolve(
        args.dataset,
        preset,
        **runs.overrides(
            tuned,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            dropout_rate=args.dropout_rate,
        ),
    )
    runs.check_tuned(cfg, tuned, args.hparams)
    run = runs.RunDir(args.out or f"runs/vit-{args.dataset}")
    record = {
        "task": "vit",
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        "seed": args.seed,
        "precision": args.precision,
        "strategy": args.strategy,
        "data_dir": args.data_dir and str(args.data_dir),
        "command": runs.command_line(),
    }
    status = run.check(record, RESUME_KEYS, args.extend, "epochs")
    if status == "finished":
        return run.finished_metrics()
    data = runs.load_data(datasets.load, cfg.dataset, args.data_dir)
    train_images = len(data[0][1]) - cfg.validation_size
    if cfg.batch_size > train_images:
        raise cli.UsageError(
            f"--batch-size {cfg.batch_size} is more than the {train_images} "
            f"training images of {cfg.dataset}. Give at most {train_images}."
        )
    runs.configure_cpu_replicas(args.cpu_replicas)

    import keras

    from zoo import checkpoints

    with run.starting(record, extend=status == "extend"):
        print(f"Run directory: {run.path}\nPreset {preset}: {cfg}")
        keras.utils.set_random_seed(args.seed)
        keras.config.set_dtype_policy(args.precision)
        train, val, test, steps = make_pipelines(
            cfg, data, args.seed, cfg.batch_size
        )
        if args.steps_per_epoch:
            steps = min(steps, args.steps_per_epoch)

        strategy = runs.make_strategy(args.strategy)
        with strategy.scope():
            model = build_model(cfg)
            # XLA cannot place a mirrored variable's replicas across CPU
            # devices (TensorFlow's known XLA issue), so mirrored runs
            # compile without.
            jit = not args.no_jit and args.strategy == "default"
            compile_model(model, cfg, steps * cfg.epochs, jit=jit)
            state = checkpoints.restore(run, model)
        print(f"{model.count_params():,} parameters, {steps} steps per epoch")

    callbacks = runs.training_callbacks(
        # Validation loss, not accuracy: on a few hundred images accuracy
        # jumps between epochs and picks a lucky one.
        run,
        state,
        "val_loss",
        cfg.patience,
    )
    model.fit(
        train,
        validation_data=val,
        epochs=cfg.epochs,
        initial_epoch=state["epoch"],
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
        shuffle=False,  # the pipeline shuffles
    )
    train_seconds = callbacks[0].train_seconds
    best = callbacks[0].best_weights()
    if best is not None:
        model.load_weights(best)
    test_loss, test_accuracy = model.evaluate(test, verbose=0)
    run.save_model(model)
    x_test, y_test = data[1]
    save_attention_plot(model, run, x_test, y_test, class_names(cfg.dataset))

    metrics, _ = runs.record_results(
        run,
        model,
        record,
        train_seconds,
        state["epoch"],
        lambda history: {
            "test_accuracy": float(test_accuracy),
            "test_loss": float(test_loss),
            "best_val_loss": min(history.get("val_loss", [float("nan")])),
            "final_val_accuracy": history.get("val_accuracy", [0.0])[-1],
        },
        title=f"ViT {preset}",
    )
    print(
        f"test accuracy: {metrics['test_accuracy']:.4f} "
        f"({len(y_test)} images), training {train_seconds:.0f} s"
    )
    return metrics


if __name__ == "__main__":
    main()
