"""The translation recipe on your own corpus (`--dataset custom --data
GLOB`): lines `source<TAB>target` streamed from the files, tokenized
inside `tf.data`, and batched by length as the Multi30k recipe batches
them (`zoo.translation.data.BUCKETS`, about `batch_tokens` per batch).

The tokenizers are learned from the corpus's vocabulary sample
(`zoo.scan`) and kept with the run. An epoch is about one pass over the
training lines: its number of batches is estimated from the sample, as
the stream's own length is unknown until it ends.
"""

import numpy as np

from zoo import corpus as corpus_lib
from zoo.cli import UsageError
from zoo.translation import data as tr_data

TOKENIZE_BATCH = 256  # lines tokenized per call
BLEU_PAIRS = 1000  # validation pairs decoded for BLEU after training


def split_pairs(lines):
    """Strings `source<TAB>target` -> (sources, targets)."""
    import tensorflow as tf

    parts = tf.strings.split(lines, "\t").to_tensor(shape=[None, 2])
    return parts[:, 0], parts[:, 1]


def sample_pairs(sample):
    """The vocabulary sample's lines as (sources, targets) lists."""
    pairs = [line.split("\t") for line in sample]
    return [s for s, _ in pairs], [t for _, t in pairs]


def encoded(lines, tokenizers, max_length):
    """`(source ids, target ids)` of each line of the string dataset
    `lines`, in order; pairs with a side longer than `max_length` tokens
    are left out."""
    import tensorflow as tf

    def tokenize(batch):
        sources, targets = split_pairs(batch)
        return tokenizers[0].tokenize(sources), tokenizers[1].tokenize(targets)

    def fits(source, target):
        return tf.maximum(tf.size(source), tf.size(target)) <= max_length

    return (
        lines.batch(TOKENIZE_BATCH)
        .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .unbatch()
        .map(lambda source, target: (source, target))  # rows: plain vectors
        .filter(fits)
    )


def batches(pairs, batch_tokens, train):
    """Teacher-forcing batches `((source, target_in), target_out)` of the
    `(source ids, target ids)` dataset `pairs`: pairs are grouped by the
    bucket of their longer side, `batch_tokens // bucket` pairs a batch,
    padded to the bucket's length. Training (an endless stream) never
    sees a short batch; validation keeps each bucket's last one."""
    import tensorflow as tf

    buckets = tf.constant(tr_data.BUCKETS, tf.int64)
    sizes = tf.constant(
        [max(1, batch_tokens // b) for b in tr_data.BUCKETS], tf.int64
    )

    def bucket(source, target):
        length = tf.cast(tf.maximum(tf.size(source), tf.size(target)), tf.int64)
        return tf.searchsorted(buckets, length[None], out_type=tf.int64)[0]

    def pad(key, window):
        length = buckets[key]
        return window.padded_batch(
            sizes[key],
            padded_shapes=(length[None], (length + 1)[None]),
            drop_remainder=train,
        )

    return (
        pairs.group_by_window(bucket, pad, window_size_func=lambda k: sizes[k])
        .map(lambda s, t: ((s, t[:, :-1]), t[:, 1:]))
        .prefetch(tf.data.AUTOTUNE)
    )


def check_config(cfg):
    if cfg.max_length > tr_data.BUCKETS[-1]:
        raise UsageError(
            f"max_length {cfg.max_length} is longer than the longest "
            f"bucket ({tr_data.BUCKETS[-1]} tokens)."
        )
    if cfg.max_pairs:
        raise UsageError(
            f"max_pairs={cfg.max_pairs} samples Multi30k; a custom corpus "
            "trains on all its lines (use --steps-per-epoch for a short run)."
        )


def estimate(tokenizers, scan, cfg):
    """`(batches, target tokens)` of one pass over the training lines, and
    the fraction of them left out as too long, estimated from the sample."""
    sources, targets = sample_pairs(scan.sample)
    src = tokenizers[0].tokenize(sources).row_lengths().numpy()
    tgt = tokenizers[1].tokenize(targets).row_lengths().numpy()
    longer = np.maximum(src, tgt)
    fits = longer <= cfg.max_length
    if not fits.any():
        raise UsageError(
            f"No line of the vocabulary sample fits max_length="
            f"{cfg.max_length} tokens: nothing would train."
        )
    per_batch = [
        max(1, cfg.batch_tokens // tr_data.bucket_of(int(n)))
        for n in longer[fits]
    ]
    scale = scan.units["train"] / len(sources)
    steps = max(1, round(scale * np.sum(1 / np.asarray(per_batch))))
    tokens = round(scale * np.sum(tgt[fits] - 1))
    return steps, tokens, 1 - fits.mean()


def prepare(folder, cfg, scan, seed, verbose=True):
    """`(train, val, steps per epoch, extra)` for `recipe.Prepared`."""
    check_config(cfg)
    tokenizers = tr_data.tokenizers_for(
        folder, cfg, sample_pairs(scan.sample), verbose
    )
    steps, tokens, dropped = estimate(tokenizers, scan, cfg)
    if verbose:
        print(
            f"{scan.units['train']:,} training and {scan.units['val']:,} "
            f"validation lines; {dropped:.1%} of the sample is longer than "
            f"max_length={cfg.max_length} and is left out. An epoch: about "
            f"{steps:,} batches (one pass, estimated from the sample)"
        )
    corpus = scan.corpus
    train = encoded(
        corpus.units("train", shuffle_seed=seed, repeat=True),
        tokenizers,
        cfg.max_length,
    )
    val = encoded(corpus.units("val"), tokenizers, cfg.max_length)
    return (
        batches(train, cfg.batch_tokens, train=True),
        corpus_lib.counted(batches(val, cfg.batch_tokens, train=False)),
        steps,
        {"tokenizers": tokenizers, "tokens": tokens},
    )


def validation_pairs(corpus, count=BLEU_PAIRS):
    """The first `count` validation pairs (in file order) as lists of
    strings: what BLEU decodes after training."""
    sources, targets = [], []
    for line in corpus.units("val").take(count).as_numpy_iterator():
        source, target = line.decode("utf-8").split("\t")
        sources.append(source)
        targets.append(target)
    return sources, targets
