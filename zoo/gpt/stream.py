"""The GPT recipe on your own text (`--dataset custom --data GLOB`): blocks
of lines streamed from the files, tokenized into characters inside
`tf.data`, and cut into windows.

The character vocabulary is that of the corpus's vocabulary sample
(`zoo.scan`) plus U+FFFD, which stands for any character the sample did
not have; it is kept with the run. The tokens of the blocks run on as one
stream, cut into consecutive windows of `context` + 1 tokens that overlap
by one (`x` is a window's first `context` tokens, `y` its last): every
token is predicted once per pass, as `zoo.gpt.data.all_windows` does for
the validation text of Tiny Shakespeare.
"""

from zoo import files
from zoo.cli import UsageError
from zoo.corpus import counted
from zoo.gpt import data as gpt_data

REPLACEMENT = "\ufffd"  # the token of characters outside the vocabulary
TOKENIZE_BATCH = 16  # blocks tokenized per call
SHUFFLE_WINDOWS = 4096


def tokenizer_for(folder, scan, verbose=True):
    """The character tokenizer kept in `folder`: loaded when saved, else
    the sample's characters and `REPLACEMENT`, saved."""
    from keras_transformer.text import CharTokenizer

    path = folder / gpt_data.TOKENIZER_DIR
    if (path / "characters.json").is_file():
        return CharTokenizer.load(path)
    characters = set("".join(scan.sample)) | {REPLACEMENT}
    tokenizer = CharTokenizer(sorted(characters))
    with files.replacing(path) as temp:
        tokenizer.save(temp)
    if verbose:
        print(
            f"{tokenizer.vocab_size} characters in the vocabulary sample "
            f"({len(scan.sample):,} blocks); any other is {REPLACEMENT!r}"
        )
    return tokenizer


def known_characters(tokenizer):
    """A function on string tensors replacing each character outside the
    tokenizer's vocabulary by `REPLACEMENT`."""
    import tensorflow as tf

    known = "".join(f"\\x{{{ord(c):x}}}" for c in tokenizer.characters)
    pattern = f"[^{known}]"

    def replace(strings):
        return tf.strings.regex_replace(strings, pattern, REPLACEMENT)

    return replace


def windows(blocks, tokenizer, context):
    """The consecutive `(x, y)` windows of the tokens of the string
    dataset `blocks` taken as one text: `x` is tokens `[i*context,
    (i+1)*context)`, `y` the same shifted by one."""
    import tensorflow as tf

    replace = known_characters(tokenizer)

    def tokenize(batch):
        return tokenizer.tokenize(replace(batch)).flat_values

    def cut(rest, ids):
        ids = tf.concat([rest, ids], axis=0)
        count = (tf.size(ids, tf.int64) - 1) // context
        end = count * context
        x = tf.reshape(ids[:end], [-1, context])
        y = tf.reshape(ids[1 : end + 1], [-1, context])
        return ids[end:], (x, y)

    return (
        blocks.batch(TOKENIZE_BATCH)
        .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .scan(tf.zeros([0], tf.int64), cut)
        .unbatch()
    )


def check_lengths(scan, cfg):
    for split, count in scan.characters.items():
        if count <= cfg.context:
            raise UsageError(
                f"The {split} text of --data {scan.corpus.data!r} has "
                f"{count} characters, fewer than a window of context "
                f"{cfg.context} + 1."
            )


def val_windows(corpus, tokenizer, context):
    """Every validation window once, in order, in batches."""
    import tensorflow as tf

    val = windows(corpus.units("val"), tokenizer, context)
    return counted(val.batch(gpt_data.EVAL_BATCH).prefetch(tf.data.AUTOTUNE))


def prepare(folder, cfg, scan, seed, verbose=True):
    """`(train, val, tokenizer)`: endless shuffled training batches and
    the validation batches."""
    import tensorflow as tf

    check_lengths(scan, cfg)
    tokenizer = tokenizer_for(folder, scan, verbose)
    corpus = scan.corpus
    if verbose:
        print(
            f"{scan.characters['train']:,} training and "
            f"{scan.characters['val']:,} validation characters "
            f"({scan.units['train']:,} and {scan.units['val']:,} blocks of "
            "lines)"
        )
    blocks = corpus.units("train", shuffle_seed=seed, repeat=True)
    train = (
        windows(blocks, tokenizer, cfg.context)
        .shuffle(SHUFFLE_WINDOWS, seed=seed + 2)
        .batch(cfg.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    return train, val_windows(corpus, tokenizer, cfg.context), tokenizer
