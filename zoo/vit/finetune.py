"""Fine-tune a trained grey-digit ViT (MNIST) on scikit-learn's digits
(or train its model from scratch on them: `--mode scratch`, the
baseline).

    python -m zoo finetune vit runs/vit-mnist --dataset digits

The digits (8x8 pixels in 17 grey levels, 0..16) become images like the
base run's: the loader scales them to 0..255, the pixel range every ViT
recipe trains on (`zoo/vit/export.py`, `INPUT_RANGE`), and they are
resized (bicubic, clipped to 0..255) to MNIST's layout: a digit fills a
20x20 box in the middle of the 28x28 image, the rest is black
(`DIGIT_BOX`). Digits and MNIST have the same ten classes, so the
model's classification head is kept and trained in full (650 weights for
d_model 64), as PEFT's `modules_to_save` does; the blocks get LoRA.
Naming `head` in `--lora-targets` puts LoRA on the head instead.

Training: the recipe's AdamW with warm-up and cosine decay
(`recipes.compile_vision_transformer`) without weight decay, on the
1,437 training digits less `--validation-size` held out; the weights of
the lowest validation loss are kept. Reports the test accuracy (360
digits) before and after.
"""

import time

from zoo import cli
from zoo import datasets
from zoo import finetune
from zoo.cli import UsageError
from zoo.vit import data as vit_data
from zoo.vit.config import ViTConfig

# From scratch: the peak rate of the presets of this model's size
# (mnist-small, cifar10-small), the recipe, not a tuned one.
LEARNING_RATES = {"lora": 2e-3, "full": 5e-4, "scratch": 1e-3}
# The side of the square a digit fills, as a fraction of the base run's
# image, per base dataset: MNIST's digits were size-normalized into a
# 20x20 box centred in 28x28 images (LeCun et al.). The MNIST run
# (runs/vit-mnist, 98.50% on MNIST) classifies the 360 test digits, before
# any fine-tuning, 78.9% right framed so and 39.2% stretched over the
# whole image (bicubic; bilinear: 59.7% and 33.3%). Other datasets: the
# whole image.
DIGIT_BOX = {"mnist": 20 / 28}
CLASSES = 10  # digits 0-9, as MNIST


def add_arguments(parser):
    parser.add_argument(
        "--dataset",
        required=True,
        choices=["digits"],
        help="the images to fine-tune on: scikit-learn's digits",
    )
    parser.add_argument(
        "--epochs", type=cli.POSITIVE, default=10, help="(default: 10)"
    )
    parser.add_argument(
        "--batch-size", type=cli.POSITIVE, default=64, help="(default: 64)"
    )
    parser.add_argument(
        "--validation-size",
        type=cli.POSITIVE,
        default=144,
        help="training digits held out for validation (default: 144)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=cli.POSITIVE,
        help="limit each epoch to this many batches (quick checks)",
    )
    return parser


def to_model_images(images, image_size, box_fraction):
    """`images` `(n, h, w, 1)` in 0..255 as float32 images of the model's
    size: resized (bicubic) to a box of `box_fraction` of the side, on
    black, clipped to 0..255."""
    import numpy as np
    import tensorflow as tf

    box = round(image_size * box_fraction)
    images = np.asarray(images, "float32")
    if images.shape[1:3] != (box, box):
        images = tf.image.resize(images, (box, box), "bicubic").numpy()
    before = (image_size - box) // 2
    after = image_size - box - before
    pad = ((0, 0), (before, after), (before, after), (0, 0))
    return np.clip(np.pad(images, pad), 0.0, 255.0)


def finetune_main(argv=None):
    parser = add_arguments(
        finetune.parser(
            "vit",
            "Fine-tune a grey-digit ViT run (MNIST) on scikit-learn's "
            "digits (LoRA or full), or train its model from scratch on "
            "them.",
            LEARNING_RATES,
        )
    )
    args = parser.parse_args(argv)
    settings = finetune.settings(args, parser, LEARNING_RATES)
    run, base = finetune.open_base(args, "vit")
    cfg = ViTConfig(**base["config"])
    if cfg.channels != 1 or cfg.num_classes != CLASSES:
        raise UsageError(
            f"{run.path} is a ViT of {cfg.channels}-channel images and "
            f"{cfg.num_classes} classes ({cfg.dataset}); --dataset digits "
            f"needs one of grey images and {CLASSES} classes, such as a "
            "`--dataset mnist` run."
        )
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    if args.validation_size + args.batch_size > len(x_train):
        raise UsageError(
            f"--validation-size {args.validation_size} and --batch-size "
            f"{args.batch_size} need more than the {len(x_train)} training "
            "digits."
        )
    box = DIGIT_BOX.get(cfg.dataset, 1.0)
    settings.update(
        dataset=args.dataset,
        image_box=round(cfg.image_size * box),
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_size=args.validation_size,
        steps_per_epoch=args.steps_per_epoch,
    )
    config = finetune.record("vit", run, base, settings)
    out, finished = finetune.output(args, run, args.dataset, config)
    if finished:
        return finetune.print_finished(out)

    import numpy as np

    from keras_transformer import recipes

    started = time.perf_counter()
    model, parameters, trainable = finetune.start(
        run, base, settings, args.seed, train_fully=("head",)
    )
    x_train = to_model_images(x_train, cfg.image_size, box)
    x_test = to_model_images(x_test, cfg.image_size, box)
    order = np.random.default_rng(args.seed).permutation(len(x_train))
    val, fit = order[: args.validation_size], order[args.validation_size :]
    train_data = vit_data.batches(
        x_train[fit], y_train[fit], args.batch_size, args.seed
    )
    val_data = vit_data.batches(x_train[val], y_train[val], args.batch_size)
    test_data = vit_data.batches(x_test, y_test, args.batch_size)
    steps = len(fit) // args.batch_size
    steps = min(steps, args.steps_per_epoch or steps)
    print(
        f"Digits as {cfg.image_size}x{cfg.image_size} images (each in a "
        f"{settings['image_box']}x{settings['image_box']} box): "
        f"{len(fit):,} train / {len(val)} validation / {len(x_test)} test"
    )
    print(finetune.describe(settings, parameters, trainable))

    def compile_model(model):
        recipes.compile_vision_transformer(
            model,
            learning_rate=settings["learning_rate"],
            weight_decay=0.0,
            warmup_steps=steps,
            total_steps=steps * args.epochs,
            label_smoothing=cfg.label_smoothing,
            jit_compile=not args.no_jit,
        )

    compile_model(model)
    test_before = model.evaluate(test_data, verbose=0, return_dict=True)
    val_before = model.evaluate(val_data, verbose=0, return_dict=True)
    print(f"Test accuracy before: {test_before['accuracy']:.4f}")
    history, seconds, kept = finetune.train(
        model, train_data, val_data, args.epochs, steps, val_before["loss"]
    )
    test_after = model.evaluate(test_data, verbose=0, return_dict=True)
    metrics = {
        "test_accuracy_before": float(test_before["accuracy"]),
        "test_accuracy_after": float(test_after["accuracy"]),
        "test_loss_before": float(test_before["loss"]),
        "test_loss_after": float(test_after["loss"]),
        "val_loss_before": float(val_before["loss"]),
        "kept_epoch": kept,
        "epochs_run": len(history.get("loss", [])),
        "trainable_parameters": int(trainable),
        "parameters": int(parameters),
        "train_seconds": round(seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    title = f"ViT fine-tuning ({settings['mode']}) on {args.dataset}"
    metrics = finetune.save(
        out, config, model, metrics, history, title, compile_model
    )
    print(
        f"Test accuracy after: {test_after['accuracy']:.4f} (before "
        f"{test_before['accuracy']:.4f}; {len(y_test)} digits; "
        f"{finetune.kept_note(kept, metrics['epochs_run'])}); "
        f"{trainable:,} parameters "
        f"trained for {seconds:.0f} s\n"
        f"Trained model: {out / 'model.keras'}"
        + (" (LoRA merged into the kernels)" if args.mode == "lora" else "")
    )
    return metrics
