"""Use a trained text-to-image run.

python -m zoo generate RUN_DIR "a handwritten three" --samples 16
    images for a caption, as a PNG grid; `--rerank VIT_RUN` draws
    `--candidates` images for each one kept and keeps those a zoo ViT
    classifier finds most like the caption's digit (as DALL-E kept the
    samples CLIP ranked best)
(`python -m zoo evaluate RUN_DIR --classifier VIT_RUN`: zoo.text2image.judge)
"""

import weakref

import numpy as np

from zoo import cli
from zoo import runs
from zoo.text2image import captions


class ImageCodesOnly:
    """A GPT that may only write image codes: the decoder-only decoding
    protocol (`start_decoding`, `decode_step`), with every other id's
    logit at -inf, so that a sample is always an image."""

    def __init__(self, model, vocab):
        self.model = model
        self.vocab_size = model.vocab_size
        self.max_length = model.max_length
        self.offset = vocab.image_offset

    def start_decoding(self, batch_size, max_length):
        return self.model.start_decoding(batch_size, max_length)

    def _restrict(self, logits):
        from keras import ops

        allowed = ops.arange(self.vocab_size) >= self.offset
        return ops.where(allowed, logits, -1e9)

    def decode_step(self, state, token_ids, index):
        logits, state = self.model.decode_step(state, token_ids, index)
        return self._restrict(logits), state

    def __call__(self, ids, training=False):
        """Logits of every position (the uncached path of `sample`)."""
        return self._restrict(self.model(ids, training=training))


_RESTRICTED = weakref.WeakKeyDictionary()


def image_codes_only(model, vocab):
    """One `ImageCodesOnly` per model, so that its compiled sampling loop
    is reused from call to call."""
    if model not in _RESTRICTED:
        _RESTRICTED[model] = ImageCodesOnly(model, vocab)
    return _RESTRICTED[model]


def generate(model, tokenizer, vocab, text, count, seed=0, temperature=1.0,
             top_k=None):  # fmt: skip
    """`count` images `(count, height, width, channels)` uint8 for the
    caption `text`."""
    from keras_transformer.generation import sample

    rows, cols = tokenizer.grid_size
    prompt = np.repeat(vocab.prompt(text), count, axis=0)
    tokens, _ = sample(
        image_codes_only(model, vocab),
        prompt,
        rows * cols,
        temperature=temperature,
        top_k=top_k,
        seed=seed,
    )
    codes = vocab.image_codes(np.asarray(tokens)[:, -rows * cols :])
    images = tokenizer.decode(codes.reshape(count, rows, cols))
    return np.clip(np.round(np.asarray(images)), 0, 255).astype("uint8")


def reconstruction_error(tokenizer, images):
    """The tokenizer on `images`: mean squared pixel error (pixels in
    [0, 1]) and codebook perplexity."""
    codes = tokenizer.encode(images.astype("float32"))
    back = np.asarray(tokenizer.decode(codes))
    mse = float(np.mean(((back - images) / 255.0) ** 2))
    perplexity = float(tokenizer.quantizer.perplexity(codes))
    return {"vq_test_mse": mse, "vq_test_perplexity": perplexity}


def save_grid(images, row_labels, path, title=None):
    """Images in rows (one per label), no axes, light strokes on black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(row_labels), len(images) // len(row_labels)
    fig, axes = plt.subplots(
        rows, cols, figsize=(0.9 * cols + 2.2, 0.95 * rows + 0.4),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    for k, ax in enumerate(axes.flat):
        ax.imshow(images[k][..., 0], cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
    for label, ax in zip(row_labels, axes[:, 0], strict=True):
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sample_grid(model, tokenizer, vocab, path, samples=8, seed=0):
    """Every digit from the held-out caption wording, `samples` each."""
    texts = [captions.caption(d, captions.HELD_OUT_TEMPLATE) for d in range(10)]
    images = np.concatenate(
        [generate(model, tokenizer, vocab, t, samples, seed + d)
         for d, t in enumerate(texts)]
    )  # fmt: skip
    return save_grid(images, texts, path, "samples (held-out wording)")


def load_run(run_dir):
    """`(run, record, cfg, model, tokenizer, vocab)` of a finished run."""
    import keras

    run = runs.RunDir(run_dir)
    record, cfg, model = run.open("text2image")
    path = run.path / "image_tokenizer.keras"
    if not path.is_file():
        raise cli.UsageError(f"{path} is missing: the run is incomplete.")
    tokenizer = keras.saving.load_model(path)
    return (
        run,
        record,
        cfg,
        model,
        tokenizer,
        captions.Vocabulary(cfg.num_codes),
    )


def load_classifier(run_dir, image_size):
    """A zoo ViT run's model, checked to classify digits of this size."""

    record, cfg, model = runs.RunDir(run_dir).open("vit")
    if cfg.num_classes != 10 or cfg.channels != 1:
        raise cli.UsageError(
            f"{run_dir} classifies {cfg.dataset}, not grey digits: give a "
            "ViT run trained with --dataset mnist (or digits)."
        )
    return model, cfg.image_size


def classify(classifier, size, images):
    """`(n, 10)` probabilities of the classifier for `images`, resized to
    the size it was trained on."""
    import keras
    from keras import ops

    x = images.astype("float32")
    if x.shape[1] != size:
        x = ops.convert_to_numpy(ops.image.resize(x, (size, size)))
    logits = classifier.predict(x, verbose=0, batch_size=256)
    return ops.convert_to_numpy(keras.activations.softmax(logits))


def rerank(classifier, size, images, digit, keep):
    """The `keep` images the classifier finds most like `digit`."""
    best = np.argsort(-classify(classifier, size, images)[:, digit])
    return images[best[:keep]]


def generate_main(argv=None):
    parser = cli.run_parser(
        "generate", "Images for a caption from a text-to-image run."
    )
    parser.add_argument("caption", help='e.g. "a handwritten three"')
    parser.add_argument("--samples", type=cli.POSITIVE, default=16)
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)
    parser.add_argument(
        "--temperature", type=cli.number(0.0, low_open=True), default=1.0
    )
    parser.add_argument("--top-k", type=cli.POSITIVE)
    parser.add_argument(
        "--rerank", help="a zoo ViT run (MNIST) to keep the best samples"
    )
    parser.add_argument(
        "--candidates",
        type=cli.POSITIVE,
        default=8,
        help="images drawn per image kept, with --rerank",
    )
    parser.add_argument("--out", type=cli.OUTPUT_FILE, help="PNG path")
    args = parser.parse_args(argv)
    run, _, _, model, tokenizer, vocab = load_run(args.run_dir)
    unknown = vocab.unknown_words(args.caption)
    if unknown:
        print(f"Words the model never saw (read as [UNK]): {unknown}")
    try:
        vocab.encode_caption(args.caption)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    count = args.samples * (args.candidates if args.rerank else 1)
    images = generate(model, tokenizer, vocab, args.caption, count,
                      args.seed, args.temperature, args.top_k)  # fmt: skip
    if args.rerank:
        digits = [d for d, w in enumerate(captions.DIGITS)
                  if w in args.caption.lower().split()]  # fmt: skip
        if len(digits) != 1:
            raise cli.UsageError(
                "--rerank needs a caption that names one digit (zero ... "
                f"nine); received {args.caption!r}"
            )
        classifier, size = load_classifier(args.rerank, tokenizer.image_size[0])
        images = rerank(classifier, size, images, digits[0], args.samples)
    name = "_".join(args.caption.lower().split())[:40]
    path = args.out or run.path / f"generated_{name}.png"
    cols = min(args.samples, 8)
    rows = -(-args.samples // cols)
    padded = np.zeros((rows * cols, *images.shape[1:]), "uint8")
    padded[: len(images)] = images
    save_grid(padded, [""] * rows, path, args.caption)
    print(f"{args.samples} images for {args.caption!r}: {path}")
    return path
