"""Train a decoder-only text-to-image model on MNIST, DALL-E's recipe in
small: an image tokenizer, then one GPT over caption and image tokens.

    python -m zoo train text2image --dataset mnist

First the image tokenizer (`keras_transformer.models.VQVAE`) learns to
write each training image as a grid of codes; it is kept in the run
(`image_tokenizer.keras`), so a resumed run reuses it. Then every image
becomes the sequence [caption words][BOS_IMAGE][codes row by row]
(`zoo.text2image.captions`: five caption wordings, a sixth held out), and
a `keras_transformer.models.GPT` learns to continue it, the loss on the
image codes (and `text_weight` on the words). `python -m zoo generate RUN
"a handwritten three"` samples images from it.
"""

from zoo import cli
from zoo import recipe
from zoo.text2image import captions
from zoo.text2image import config

TOKENIZER_FILE = "image_tokenizer.keras"


def load_images(cfg, data_dir=None):
    """`((x_train, y_train), (x_test, y_test))`, pixels 0-255 at
    `cfg.image_size` (digits are enlarged from 8x8)."""
    import numpy as np

    from zoo import datasets

    data = datasets.load(cfg.dataset, data_dir)
    if data[0][0].shape[1] == cfg.image_size:
        return data
    from keras import ops

    def resize(x):
        x = ops.image.resize(x.astype("float32"), (cfg.image_size,) * 2)
        return np.clip(np.round(ops.convert_to_numpy(x)), 0, 255).astype(
            "uint8"
        )

    return tuple((resize(x), y) for x, y in data)


def image_tokenizer(folder, cfg, images, seed, verbose=True):
    """The run's VQ-VAE: loaded from `folder`, or trained on `images` and
    saved there (whole or not at all)."""
    import keras

    from keras_transformer.models import VQVAE
    from zoo import files

    path = folder / TOKENIZER_FILE
    if path.is_file():
        return keras.saving.load_model(path)
    keras.utils.set_random_seed(seed)
    tokenizer = VQVAE(
        cfg.image_size,
        channels=images.shape[-1],
        num_codes=cfg.num_codes,
        code_dim=cfg.code_dim,
        hidden=cfg.vq_hidden,
        downsamples=cfg.vq_downsamples,
        name="image_tokenizer",
    )
    tokenizer.compile(keras.optimizers.Adam(cfg.vq_learning_rate))
    if verbose:
        print(
            f"Image tokenizer: {tokenizer.count_params():,} parameters, "
            f"{cfg.vq_epochs} epochs"
        )
    tokenizer.fit(
        images,
        batch_size=cfg.vq_batch_size,
        epochs=cfg.vq_epochs,
        verbose=2 if verbose else 0,
    )
    files.save_model(tokenizer, path)
    return tokenizer


def encode_images(tokenizer, images, batch_size=256):
    import numpy as np

    return np.concatenate(
        [
            np.asarray(tokenizer.encode(images[i : i + batch_size]))
            for i in range(0, len(images), batch_size)
        ]
    )


class Text2ImageFamily(recipe.Family):
    name = "text2image"
    description = __doc__.splitlines()[0]
    config = config
    options = (
        ("--epochs", "epochs", cli.POSITIVE, "override the preset"),
        ("--batch-size", "batch_size", cli.POSITIVE, "override the preset"),
        (
            "--text-weight",
            "text_weight",
            cli.number(0.0),
            "loss weight of the caption's words (override the preset)",
        ),
    )

    def title(self, preset, args):
        return f"text-to-image {preset}"

    def check_config(self, cfg, source):
        factor = 2**cfg.vq_downsamples
        if cfg.image_size % factor:
            raise cli.UsageError(
                f"{source}: image_size {cfg.image_size} is not divisible by "
                f"2 ** vq_downsamples = {factor}."
            )

    def load_data(self, cfg, args):
        return load_images(cfg, args.data_dir)

    def check_data(self, cfg, data):
        if len(data[0][0]) <= cfg.validation_size:
            raise cli.UsageError(
                f"validation_size {cfg.validation_size} leaves no training "
                f"image of {len(data[0][0])}."
            )

    def prepare(self, folder, cfg, data, seed, verbose=True):
        import numpy as np
        import tensorflow as tf

        (x, y), (x_test, y_test) = data
        order = np.random.default_rng(seed).permutation(len(x))
        val, train = order[: cfg.validation_size], order[cfg.validation_size :]
        tokenizer = image_tokenizer(folder, cfg, x[train], seed, verbose)
        vocab = captions.Vocabulary(cfg.num_codes)
        split = {}
        for name, images, labels in (
            ("train", x[train], y[train]),
            ("val", x[val], y[val]),
        ):
            codes = encode_images(tokenizer, images)
            texts = captions.train_captions(labels, seed)
            ids = vocab.sequences(texts, codes)
            weights = captions.loss_weights(ids, codes[0].size, cfg.text_weight)
            split[name] = (ids[:, :-1], ids[:, 1:], weights)
        train_ds = (
            tf.data.Dataset.from_tensor_slices(split["train"])
            .shuffle(len(train), seed=seed)
            .batch(cfg.batch_size, drop_remainder=True)
            .repeat()
            .prefetch(tf.data.AUTOTUNE)
        )
        val_ds = tf.data.Dataset.from_tensor_slices(split["val"]).batch(256)
        steps = len(train) // cfg.batch_size
        if not steps:
            raise cli.UsageError(
                f"batch_size {cfg.batch_size} is larger than the "
                f"{len(train)} training images."
            )
        extra = {
            "tokenizer": tokenizer,
            "vocab": vocab,
            "grid": tuple(tokenizer.grid_size),
            "test": (x_test, y_test),
        }
        return recipe.Prepared(train_ds, val_ds, steps, extra)

    def describe(self, model, cfg, prepared):
        rows, cols = prepared.extra["grid"]
        return (
            f"{model.count_params():,} parameters; sequences of "
            f"{model.max_length} tokens ({captions.CAPTION_LENGTH} caption, "
            f"1 BOS_IMAGE, {rows}x{cols} image codes of {cfg.num_codes}); "
            f"{prepared.steps_per_epoch} steps of {cfg.batch_size} an epoch"
        )

    def build_model(self, cfg, prepared):
        from keras_transformer.models import GPT

        rows, cols = prepared.extra["grid"]
        return GPT(
            vocab_size=prepared.extra["vocab"].size,
            # + 1 for BOS_IMAGE, so that a prompt and its image fit.
            max_length=captions.CAPTION_LENGTH + 1 + rows * cols,
            num_layers=cfg.num_layers,
            d_model=cfg.d_model,
            num_heads=cfg.num_heads,
            d_ff=cfg.d_ff,
            dropout_rate=cfg.dropout_rate,
            name="text2image",
        )

    def compile_model(self, model, cfg, steps_per_epoch, jit_compile):
        from keras_transformer import recipes

        recipes.compile_gpt(
            model,
            learning_rate=cfg.learning_rate,
            weight_decay=cfg.weight_decay,
            warmup_steps=cfg.warmup_steps,
            total_steps=cfg.epochs * steps_per_epoch,
            jit_compile=jit_compile,
        )

    def finish(self, run, model, cfg, prepared, data, args):
        from zoo.text2image import evaluate as t2i_evaluate

        val = model.evaluate(prepared.val, verbose=0, return_dict=True)
        run.save_model(model)
        tokenizer = prepared.extra["tokenizer"]
        x_test = prepared.extra["test"][0]
        reconstruction = t2i_evaluate.reconstruction_error(tokenizer, x_test)
        grid = run.path / "samples.png"
        t2i_evaluate.sample_grid(
            model, tokenizer, prepared.extra["vocab"], grid, samples=8
        )

        def results(history):
            return {
                "val_image_loss": float(val["loss"]),
                "val_image_token_accuracy": float(val["accuracy"]),
                **reconstruction,
            }

        def line(metrics):
            return (
                f"validation loss {metrics['val_image_loss']:.4f} nats per "
                f"image token; tokenizer reconstruction MSE "
                f"{metrics['vq_test_mse']:.4f}, codebook perplexity "
                f"{metrics['vq_test_perplexity']:.1f}; samples in {grid}; "
                f"training {metrics['train_seconds']:.0f} s"
            )

        return results, line


FAMILY = Text2ImageFamily()


def main(argv=None):
    return recipe.train(FAMILY, argv)


if __name__ == "__main__":
    main()
