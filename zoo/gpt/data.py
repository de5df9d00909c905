"""The GPT recipe's data: Tiny Shakespeare, the run's character
tokenizer, random training windows and every validation position."""

from zoo import datasets
from zoo import files

TOKENIZER_DIR = "tokenizer"
EVAL_BATCH = 64


def load(cfg, data_dir=None):
    """`{"train": text, "val": text}` of `cfg.dataset`."""
    return datasets.load_shakespeare(data_dir)


def load_tokenizer(folder):
    """The character tokenizer saved in `folder`."""
    from keras_transformer.text import CharTokenizer

    return CharTokenizer.load(folder / TOKENIZER_DIR)


def encode_text(folder, text, verbose=True):
    """`(tokenizer, {"train": ids, "val": ids})`: the character tokenizer
    kept in `folder` (the sorted characters of the whole text, as nanoGPT;
    loaded when saved) and each split as int32 NumPy ids."""
    import numpy as np

    from keras_transformer.text import CharTokenizer

    path = folder / TOKENIZER_DIR
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
