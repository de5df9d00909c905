"""The docs' figures, drawn from the library's own code.

`mkdocs build` runs this first (the hook in `docs/hooks.py`), so a figure
always shows what the code does now; the PNG files are written to
`docs/images/generated/` and are not committed. By hand:

    python docs/figures.py            # all figures
    python docs/figures.py masks pe   # some of them

Each figure is a function `name(out)` that writes the PNG files `FIGURES`
lists for it into the folder `out`.
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = pathlib.Path(__file__).resolve().parent / "images" / "generated"
# The checkout's root, for the zoo's modules (captions of text2image).
ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _measured(name):
    """A JSON file of `docs/data/`: numbers measured on the zoo's runs
    (`docs/collect_runs.py`)."""
    import json

    return json.loads((ROOT / "docs" / "data" / name).read_text())


def _save(fig, path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def positional_encoding(out):
    """The sinusoidal table (positions x dimensions), and the dot product
    of every position's encoding with that of position 32."""
    import numpy as np

    from keras_transformer.layers import PositionalEncoding

    length, d_model = 128, 128
    table = np.asarray(PositionalEncoding(max_length=length)(
        np.zeros((1, length, d_model), "float32")
    ))[0]  # fmt: skip
    plt = _pyplot()
    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(11, 3.8),
        layout="constrained",
        gridspec_kw={"width_ratios": [1.3, 1]},
    )
    image = left.imshow(table, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    left.set_xlabel("dimension")
    left.set_ylabel("position")
    left.set_title(f"PositionalEncoding, d_model {d_model}")
    fig.colorbar(image, ax=left, label="value")
    anchor = 32
    right.plot(table @ table[anchor], marker=".", markersize=3)
    right.axvline(anchor, color="gray", linestyle=":")
    right.set_xlabel("position")
    right.set_ylabel(f"PE(pos) . PE({anchor})")
    right.set_title("Dot product: depends on the distance only")
    right.grid(alpha=0.3)
    _save(fig, out / "positional_encoding.png")


def warmup(out):
    """The learning rate of `WarmupSchedule` for the paper's base model
    and the zoo's Multi30k preset, over their first steps."""
    import numpy as np

    from keras_transformer.schedules import WarmupSchedule

    curves = {
        "paper base (d_model 512, warm-up 4000)": (512, 4000, 1.0, 40000),
        "zoo multi30k-base (d_model 256, warm-up 400, scale 0.4)": (
            256, 400, 0.4, 2500,
        ),
    }  # fmt: skip
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    for ax, (label, (d_model, steps, scale, last)) in zip(
        axes, curves.items(), strict=True
    ):
        schedule = WarmupSchedule(d_model, warmup_steps=steps, scale=scale)
        x = np.arange(0, last, max(1, last // 400))
        ax.plot(x, [float(schedule(s)) for s in x])
        ax.axvline(steps, color="gray", linestyle=":", label="warm-up ends")
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title(label, fontsize=10)
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, out / "warmup.png")


def masks(out):
    """The look-ahead mask, a padding mask over keys, and the two
    combined, for a 6-token target whose last two tokens are padding."""
    import numpy as np
    from keras import ops

    from keras_transformer.layers import masks as mask_lib

    ids = np.array([[5, 9, 7, 3, 0, 0]])
    look_ahead = np.asarray(ops.convert_to_numpy(mask_lib.look_ahead_mask(6)))
    look_ahead = look_ahead.reshape(6, 6)
    keys = np.asarray(ops.convert_to_numpy(mask_lib.padding_mask(ids)))[0]
    padding = np.broadcast_to(keys[None, :], (6, 6))
    panels = {
        "look-ahead: query i sees keys <= i": look_ahead,
        "padding: no query sees the pad keys": padding,
        "decoder self-attention: both": look_ahead & padding.astype(bool),
    }
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
    labels = [f"{i}" if t else f"{i} pad" for i, t in enumerate(ids[0])]
    for ax, (title, mask) in zip(axes, panels.items(), strict=True):
        ax.imshow(mask.astype(float), cmap="Greens", vmin=0, vmax=1.3)
        for (i, j), value in np.ndenumerate(mask):
            ax.text(j, i, "1" if value else "0", ha="center", va="center")
        ax.set_xticks(range(6), labels, rotation=45, fontsize=8)
        ax.set_yticks(range(6), labels, fontsize=8)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.set_title(title, fontsize=10)
    fig.suptitle("1 = may attend (the mask), 0 = score set to -inf")
    _save(fig, out / "masks.png")


def patches(out):
    """A real 8x8 digit (scikit-learn's digits) cut into 2x2 patches as
    `PatchEmbedding` cuts it, and the token sequence the ViT reads."""
    import numpy as np
    from sklearn.datasets import load_digits

    digit = load_digits().images[0].astype("float32")  # a 0, values 0..16
    size, patch = 8, 2
    grid = size // patch
    plt = _pyplot()
    fig = plt.figure(figsize=(11, 3.6))
    left = fig.add_axes([0.02, 0.05, 0.28, 0.85])
    left.imshow(digit, cmap="gray_r")
    for k in range(1, grid):
        left.axhline(k * patch - 0.5, color="tab:red")
        left.axvline(k * patch - 0.5, color="tab:red")
    for n in range(grid * grid):
        r, c = divmod(n, grid)
        left.text(c * patch, r * patch - 0.1, str(n), color="tab:red",
                  fontsize=8, va="top")  # fmt: skip
    left.set_xticks([])
    left.set_yticks([])
    left.set_title(f"{size}x{size} digit, {grid * grid} patches of "
                   f"{patch}x{patch}")  # fmt: skip
    tokens = grid * grid + 1
    for n in range(tokens):
        ax = fig.add_axes([0.33 + n * 0.039, 0.35, 0.035, 0.3])
        ax.set_xticks([])
        ax.set_yticks([])
        if n == 0:
            ax.imshow(np.ones((patch, patch)), cmap="Blues", vmin=0, vmax=2)
            ax.set_title("[CLS]", fontsize=7)
            continue
        r, c = divmod(n - 1, grid)
        cell = digit[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch]
        ax.imshow(cell, cmap="gray_r", vmin=0, vmax=16)
        ax.set_title(str(n - 1), fontsize=7)
    fig.text(0.33, 0.15, "the sequence: a class token, then the patches "
             "row by row, each flattened and projected to d_model, plus a "
             "learned position", fontsize=9)  # fmt: skip
    _save(fig, out / "patches.png")


def _reversal_model(seconds_note):
    """A one-layer Transformer trained for a few seconds to write its
    source backwards (ids 3..12, start 1, end 2): small enough to train
    while the site builds, with attention easy to read."""
    import keras
    import numpy as np

    from keras_transformer.models import Transformer

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)

    def pairs(n, length=8):
        src = rng.integers(3, 13, (n, length))
        start, end = np.ones((n, 1), int), np.full((n, 1), 2)
        tgt = src[:, ::-1]
        return (src, np.concatenate([start, tgt], 1)), np.concatenate(
            [tgt, end], 1
        )

    model = Transformer(13, 13, num_layers=1, d_model=32, num_heads=2,
                        d_ff=64, dropout_rate=0.0, max_length=16)  # fmt: skip
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x, y = pairs(6400)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    x, y = pairs(256)
    accuracy = model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    seconds_note.append(accuracy)
    return model, pairs


def reversal_attention(out):
    """Per-head cross-attention and decoder self-attention of the tiny
    reversal model, for one source."""
    import numpy as np
    from keras import ops

    from keras_transformer.visualization import plot_attention_heads

    note = []
    model, pairs = _reversal_model(note)
    (src, tgt_in), _ = pairs(1)
    context, padding = model.encode(src)
    _, scores = model.decode(tgt_in, context, padding,
                             return_attention_scores=True)  # fmt: skip
    source = [str(t) for t in src[0]]
    target = ["<s>"] + [str(t) for t in tgt_in[0, 1:]]
    label = (f"tiny model trained 2 epochs to reverse 8 ids "
             f"(token accuracy {note[0]:.0%})")  # fmt: skip
    for kind, keys in (("cross_attention", source), ("self_attention", target)):
        weights = np.asarray(ops.convert_to_numpy(scores[0][kind]))[0]
        plot_attention_heads(
            weights, target, keys, out / f"reversal_{kind}.png",
            title=f"{kind.replace('_', '-')}, per head: {label}",
        )  # fmt: skip


def vit_attention(out):
    """Class-token attention of a small ViT trained for seconds on
    scikit-learn's digits, enlarged from 8x8 to 24x24 (36 patches of
    4x4), so that the figure needs no download."""
    import keras
    import numpy as np
    from keras import ops
    from sklearn.datasets import load_digits

    from keras_transformer.models import VisionTransformer
    from keras_transformer.visualization import plot_attention_overlays

    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = np.asarray(ops.image.resize(
        digits.images[..., None].astype("float32") * (255 / 16), (24, 24)
    )).clip(0, 255)  # fmt: skip
    labels = digits.target
    model = VisionTransformer(24, 4, 10, num_layers=2, d_model=64,
                              num_heads=4, d_ff=128, dropout_rate=0.0,
                              channels=1)  # fmt: skip
    model.compile(
        keras.optimizers.AdamW(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(images[:1297], labels[:1297], batch_size=64, epochs=15,
              verbose=0)  # fmt: skip
    test, test_labels = images[1297:], labels[1297:]
    accuracy = model.evaluate(test, test_labels, verbose=0)[1]
    shown = test[:8]
    maps = np.asarray(ops.convert_to_numpy(model.class_token_attention(shown)))
    predicted = np.argmax(ops.convert_to_numpy(model(shown)), -1)
    titles = [
        f"predicted {p} (true {t})"
        for p, t in zip(predicted, test_labels[:8], strict=True)
    ]
    plot_attention_overlays(
        shown, maps, titles, out / "vit_attention.png",
        title=("Class-token attention to the 36 patches, last layer, mean of "
               f"4 heads: small ViT trained 15 epochs on 1,297 digits "
               f"(test accuracy {accuracy:.0%})"),
    )  # fmt: skip


def gpt_attention(out):
    """Per-head causal self-attention of a tiny character GPT trained for
    seconds on the 20 KB Shakespeare-like sample in `tests/data`."""
    import keras
    import numpy as np
    from keras import ops

    from keras_transformer.models import GPT
    from keras_transformer.visualization import plot_attention_heads

    root = pathlib.Path(__file__).resolve().parents[1]
    text = (root / "tests/data/tinyshakespeare/input.txt").read_text()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    context = 48
    starts = rng.integers(0, len(ids) - context - 1, 9600)
    x = np.stack([ids[i : i + context] for i in starts])
    y = np.stack([ids[i + 1 : i + context + 1] for i in starts])
    model = GPT(len(chars), context, num_layers=2, d_model=64, num_heads=4,
                d_ff=128, dropout_rate=0.0)  # fmt: skip
    model.compile(
        keras.optimizers.AdamW(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    loss = history.history["loss"][-1]
    line = text[text.index("ROMEO:") :][:32]
    _, attention = model(np.array([[chars.index(c) for c in line]]),
                         return_attention_scores=True)  # fmt: skip
    weights = np.asarray(ops.convert_to_numpy(attention[-1]))[0]
    labels = [repr(c)[1:-1] if c in " \n" else c for c in line]
    labels = ["\u2423" if c == " " else c for c in labels]
    plot_attention_heads(
        weights, labels, labels, out / "gpt_attention.png", columns=2,
        title=("Last-layer causal self-attention, per head: tiny character "
               "GPT (2 layers, d_model 64)\ntrained 3 epochs on the "
               f"tests/data sample (training loss {loss:.2f} nats)"),
    )  # fmt: skip


def gradient_distance(out):
    """How much the last output depends on each input: the gradient norm
    `||d y_T / d x_t||` against the distance `T - t`, for an LSTM and for
    one self-attention encoder layer, both at initialisation, averaged
    over 32 random sequences of 64 steps; and the trained encoders of the
    zoo's recurrent Multi30k runs, from `docs/data/`."""

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_transformer.layers import EncoderLayer

    keras.utils.set_random_seed(0)
    length, width = 64, 32
    x = tf.constant(np.random.default_rng(0).normal(
        size=(32, length, width)).astype("float32"))  # fmt: skip
    models = {
        "LSTM(32): the last state": keras.layers.LSTM(width),
        "EncoderLayer(32, 4 heads): the last position": lambda v: EncoderLayer(
            width, 4, 64, dropout_rate=0.0
        )(v)[:, -1],  # fmt: skip
    }
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    distance = np.arange(length)[::-1]
    for label, model in models.items():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)
            # A random fixed direction of the output: a scalar to derive.
            probe = tf.constant(np.random.default_rng(1).normal(
                size=(1, width)).astype("float32"))  # fmt: skip
            total = tf.reduce_sum(y * probe)
        norms = tf.norm(tape.gradient(total, x), axis=-1).numpy().mean(0)
        ax.semilogy(distance, norms, marker=".", markersize=3, label=label)
    # The same measure on the zoo's trained Multi30k encoders (their
    # forward LSTM over 64 tokens of test text; `docs/collect_runs.py`).
    trained = _measured("trained_lstm_gradients.json")
    for label, norms in trained["runs"].items():
        steps = np.arange(len(norms))[::-1]
        ax.semilogy(
            steps, norms, linestyle="--", label=f"trained encoder: {label}"
        )
    ax.set_xlabel("distance T - t from the last input")
    ax.set_ylabel("mean gradient norm (log scale)")
    ax.set_title("How far back the output can feel its inputs "
                 "(64 steps)", fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _save(fig, out / "gradient_distance.png")


def bleu_by_length(out):
    """Test2016 BLEU by source length for the LSTM without attention, the
    LSTM with Bahdanau attention and the Transformer: the zoo's runs,
    collected by `docs/collect_runs.py` into `docs/data/`."""

    import numpy as np

    data = _measured("multi30k_by_length.json")
    models = data["models"]
    buckets = list(models[0]["bleu_by_length"])
    counts = [models[0]["bleu_by_length"][b]["sentences"] for b in buckets]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
    width = 0.8 / len(models)
    x = np.arange(len(buckets))
    for i, entry in enumerate(models):
        scores = [entry["bleu_by_length"][b]["bleu"] for b in buckets]
        bars = ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            scores,
            width,
            label=f"{entry['model']} (all: {entry['bleu']:.1f})",
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(
        x,
        [
            f"{b} words\n{n} sentences"
            for b, n in zip(buckets, counts, strict=True)
        ],
    )
    ax.set_xlabel("source sentence length")
    ax.set_ylabel("BLEU (test2016)")
    ax.set_title("Multi30k German -> English: BLEU by source length "
                 "(the zoo's runs)", fontsize=10)  # fmt: skip
    top = max(e["bleu_by_length"][b]["bleu"] for e in models for b in buckets)
    ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
    ax.legend(fontsize=8, loc="upper center", ncol=len(models))
    ax.grid(alpha=0.3, axis="y")
    _save(fig, out / "bleu_by_length.png")


def exposure_bias(out):
    """Token accuracy by position given the reference prefix and given
    the model's own: the zoo's Multi30k Transformer, measured by `zoo
    evaluate --exposure-bias` and collected into `docs/data/`."""

    from zoo.translation import exposure

    result = _measured("exposure_bias.json")
    exposure.plot(
        result,
        out / "exposure_bias.png",
        f"Exposure bias: the zoo's Multi30k Transformer on "
        f"{result['sentences']:,} test2016 sentences",
    )


def image_tokens(out):
    """A digit through a small VQ-VAE trained for seconds on scikit-learn's
    digits (enlarged to 16x16, 4x4 codes of 32): the image, its codes, the
    image decoded back from them, and the one sequence a text-to-image
    GPT reads."""
    import keras
    import numpy as np
    from keras import ops
    from sklearn.datasets import load_digits

    from keras_transformer.models import VQVAE
    from zoo.text2image import captions

    keras.utils.set_random_seed(0)
    digits = load_digits()
    images = np.clip(ops.convert_to_numpy(ops.image.resize(
        digits.images[..., None].astype("float32") * (255 / 16), (16, 16)
    )), 0, 255)  # fmt: skip
    model = VQVAE(16, num_codes=32, code_dim=16, hidden=32)
    model.compile(keras.optimizers.Adam(3e-3))
    model.fit(images[:1500], epochs=8, batch_size=64, verbose=0)
    image = images[1500 + 3 : 1500 + 4]  # a held-out digit
    label = int(digits.target[1500 + 3])
    codes = ops.convert_to_numpy(model.encode(image))[0]
    back = ops.convert_to_numpy(model.decode(codes[None]))[0]
    vocab = captions.Vocabulary(32)
    text = captions.caption(label, captions.TRAIN_TEMPLATES[0])
    sequence = vocab.sequences([text], codes[None])[0]
    plt = _pyplot()
    fig = plt.figure(figsize=(12, 4.6))
    panels = fig.subplots(1, 3, gridspec_kw={"bottom": 0.42, "top": 0.9})
    panels[0].imshow(image[0, ..., 0], cmap="gray", vmin=0, vmax=255)
    panels[0].set_title("the image (16x16)", fontsize=9)
    panels[1].imshow(np.zeros((4, 4)), cmap="gray_r", vmin=0, vmax=1)
    for (r, c), code in np.ndenumerate(codes):
        panels[1].text(c, r, str(code), ha="center", va="center", fontsize=12)
    panels[1].set_title("encode(): 4x4 codes of 32", fontsize=9)
    panels[2].imshow(back[..., 0], cmap="gray", vmin=0, vmax=255)
    panels[2].set_title("decode(codes)", fontsize=9)
    for ax in panels:
        ax.set_xticks([])
        ax.set_yticks([])
    strip = fig.add_axes([0.03, 0.06, 0.94, 0.22])
    kinds = np.where(sequence < vocab.image_offset, 0, 2)
    kinds[sequence == captions.BOS_IMAGE] = 1
    kinds[sequence == captions.PAD] = -1
    colours = {-1: "#eeeeee", 0: "#cfe2f3", 1: "#f9cb9c", 2: "#d9ead3"}
    for i, (token, kind) in enumerate(zip(sequence, kinds, strict=True)):
        strip.add_patch(plt.Rectangle((i, 0), 0.95, 1, color=colours[kind]))
        word = vocab.words[token] if token < vocab.image_offset else (
            str(token - vocab.image_offset))  # fmt: skip
        word = {"[PAD]": "pad", "[BOS_IMAGE]": "BOS"}.get(word, word)
        strip.text(i + 0.47, 0.5, word, ha="center", va="center",
                   fontsize=7, rotation=90 if len(word) > 3 else 0)  # fmt: skip
    strip.set_xlim(0, len(sequence))
    strip.set_ylim(0, 1)
    strip.axis("off")
    strip.set_title(
        f"the GPT's sequence: caption {text!r} (left-padded), BOS_IMAGE, "
        "then the codes row by row (ids shifted past the words)",
        fontsize=9,
    )
    _save(fig, out / "image_tokens.png")


# name -> (function, the files it writes). The pages link these files;
# tests/test_docs.py checks that every one is shown on some page.
FIGURES = {
    "pe": (positional_encoding, ["positional_encoding.png"]),
    "warmup": (warmup, ["warmup.png"]),
    "masks": (masks, ["masks.png"]),
    "patches": (patches, ["patches.png"]),
    "reversal": (
        reversal_attention,
        ["reversal_cross_attention.png", "reversal_self_attention.png"],
    ),
    "vit": (vit_attention, ["vit_attention.png"]),
    "gpt": (gpt_attention, ["gpt_attention.png"]),
    "gradients": (gradient_distance, ["gradient_distance.png"]),
    "image_tokens": (image_tokens, ["image_tokens.png"]),
    "bleu_by_length": (bleu_by_length, ["bleu_by_length.png"]),
    "exposure_bias": (exposure_bias, ["exposure_bias.png"]),
}


def draw(names=None, out=OUT):
    """Draws the named figures (all by default) into `out`; an error if a
    figure does not write the files it declares."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names or FIGURES:
        function, files = FIGURES[name]
        for file in files:
            (out / file).unlink(missing_ok=True)
        function(out)
        missing = [file for file in files if not (out / file).exists()]
        if missing:
            raise RuntimeError(f"figure {name!r} did not write {missing}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"of {sorted(FIGURES)}")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown {unknown}; choose from {sorted(FIGURES)}")
    draw(args.names, args.out)
    print(f"figures in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
