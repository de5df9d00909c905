"""Multi30k for the translation recipe: pairs, tokenizers (kept with the
run), token ids and batches."""

import numpy as np

from zoo import datasets
from zoo import files

TOKENIZER_DIRS = ("tokenizer_source", "tokenizer_target")

# Batches are padded to one of these lengths (tokens, START/END included),
# so the compiled step sees a handful of shapes instead of one per batch.
BUCKETS = (16, 24, 32, 48, 64, 96, 128)


def load_pairs(cfg, src, tgt, data_dir=None, seed=0):
    """`{"train", "val", "test2016"}` -> (sources, targets); the training
    split is cut to `cfg.max_pairs` (a seeded sample) when that is set."""
    splits = datasets.load(cfg.dataset, data_dir, src=src, tgt=tgt)
    if cfg.max_pairs:
        sources, targets = splits["train"]
        keep = np.random.default_rng(seed).permutation(len(sources))
        keep = sorted(keep[: cfg.max_pairs])
        splits["train"] = (
            [sources[i] for i in keep],
            [targets[i] for i in keep],
        )
        # Validation and test stay whole except in the tiny preset's
        # quick checks, which would otherwise spend most time decoding.
        n = max(20, cfg.max_pairs // 10)
        for split in ("val", "test2016"):
            s, t = splits[split]
            splits[split] = (s[:n], t[:n])
    return splits


def build_tokenizers(cfg, sources, targets, verbose=True):
    """WordPiece tokenizers learned from the training text of each side."""
    from keras_transformer.text import WordPieceTokenizer
    from keras_transformer.text import learn_vocabulary

    tokenizers = []
    for side, texts in (("source", sources), ("target", targets)):
        if verbose:
            print(f"Learning the {side} vocabulary ({len(texts):,} sentences)")
        vocabulary = learn_vocabulary(
            texts, cfg.vocab_size, lower_case=True, verbose=verbose
        )
        tokenizers.append(WordPieceTokenizer(vocabulary, lower_case=True))
    return tuple(tokenizers)


def load_tokenizers(folder):
    """The source and target tokenizers saved in `folder`."""
    from keras_transformer.text import WordPieceTokenizer

    return tuple(WordPieceTokenizer.load(folder / n) for n in TOKENIZER_DIRS)


def tokenizers_for(folder, cfg, train_pairs, verbose=True):
    """The tokenizers kept in `folder`: loaded if saved, else learned from
    the training pairs and saved."""
    paths = [folder / name for name in TOKENIZER_DIRS]
    if all((p / "vocabulary.txt").is_file() for p in paths):
        return load_tokenizers(folder)
    tokenizers = build_tokenizers(cfg, *train_pairs, verbose=verbose)
    for tokenizer, path in zip(tokenizers, paths, strict=True):
        with files.replacing(path) as temp:
            tokenizer.save(temp)
    return tokenizers


def encode_pairs(tokenizers, sources, targets, max_length):
    """Token ids of each pair as two ragged tensors; pairs with a side
    longer than `max_length` tokens are dropped (the count is returned)."""
    import tensorflow as tf

    src_ids = tokenizers[0].tokenize(tf.constant(sources))
    tgt_ids = tokenizers[1].tokenize(tf.constant(targets))
    fits = tf.logical_and(
        src_ids.row_lengths() <= max_length,
        tgt_ids.row_lengths() <= max_length,
    )
    dropped = int(tf.reduce_sum(tf.cast(~fits, tf.int32)))
    return (
        tf.ragged.boolean_mask(src_ids, fits),
        tf.ragged.boolean_mask(tgt_ids, fits),
        dropped,
    )


def bucket_of(length):
    for boundary in BUCKETS:
        if length <= boundary:
            return boundary
    raise ValueError(
        f"A sequence of {length} tokens is longer than the longest "
        f"bucket ({BUCKETS[-1]})."
    )


def batches(src_ids, tgt_ids, batch_tokens, shuffle_seed=None):
    """Teacher-forcing batches `((source, target_in), target_out)`.

    Pairs are grouped by length (the longer side), and every batch is
    padded to its group's bucket length, with about `batch_tokens` tokens
    per batch. Shuffled (pairs, then batches) when `shuffle_seed` is set,
    then a group's short last batch is left out; otherwise in order, every
    pair kept.
    """
    import tensorflow as tf

    lengths = tf.maximum(src_ids.row_lengths(), tgt_ids.row_lengths())
    lengths = lengths.numpy()
    order = np.arange(len(lengths))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(order)
    groups = {}
    for i in order:
        groups.setdefault(bucket_of(int(lengths[i])), []).append(i)
    plan = []
    for boundary, members in sorted(groups.items()):
        size = max(1, batch_tokens // boundary)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            # Training drops each group's short last batch (other pairs
            # each epoch): one batch shape per bucket, one compilation.
            if shuffle_seed is None or len(chunk) == size:
                plan.append((boundary, chunk))
    return _Batches(src_ids, tgt_ids, plan, shuffle_seed)


class _Batches:
    """The planned batches as a `tf.data.Dataset` (re-shuffled each
    epoch when training)."""

    def __init__(self, src_ids, tgt_ids, plan, shuffle_seed):
        self.src = src_ids
        self.tgt = tgt_ids
        self.plan = plan
        self.shuffle_seed = shuffle_seed
        self.tokens = sum(
            int(np.sum(tgt_ids.row_lengths().numpy()[m]) - len(m))
            for _, m in plan
        )

    def __len__(self):
        return len(self.plan)

    def dataset(self):
        import tensorflow as tf

        def generate():
            plan = list(self.plan)
            if self.shuffle_seed is not None:
                generate.epoch += 1
                rng = np.random.default_rng((self.shuffle_seed, generate.epoch))
                rng.shuffle(plan)
            for boundary, members in plan:
                yield boundary, np.asarray(members, "int64")

        generate.epoch = 0

        def pad(boundary, members):
            rows = tf.size(members, out_type=tf.int64)
            s = tf.gather(self.src, members).to_tensor(
                shape=tf.stack([rows, boundary])
            )
            t = tf.gather(self.tgt, members).to_tensor(
                shape=tf.stack([rows, boundary + 1])
            )
            return (s, t[:, :-1]), t[:, 1:]

        ds = tf.data.Dataset.from_generator(
            generate,
            output_signature=(
                tf.TensorSpec((), tf.int64),
                tf.TensorSpec((None,), tf.int64),
            ),
        )
        # A generator's length is unknown to tf.data; stating it lets Keras
        # size its progress bar and end an epoch without running dry.
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(self.plan)))
        return ds.map(pad).prefetch(tf.data.AUTOTUNE)
