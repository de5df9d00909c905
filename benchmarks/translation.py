"""Training and decoding speed of our encoder-decoder `Transformer`.

Training: target tokens per second of a full training step (forward,
backward, Adam update; `model.train_on_batch`) of our `Transformer`
against the same encoder-decoder assembled from keras-hub's
`TokenAndPositionEmbedding`, `TransformerEncoder` and `TransformerDecoder`
(post-norm, ReLU feed-forward, as ours is here), at the TensorFlow
tutorial's size (`--size tutorial`: 4 layers, d_model 128, d_ff 512, 8
heads) or a larger one where matrix products dominate (`--size d512`: 2
layers, d_model 512, d_ff 2048, 8 heads), vocabulary 8,000, 64 source and
64 target tokens, batch 64. Both use the same masked cross-entropy and
optimizer; both run with XLA on and off, at dropout 0.1 and, as an
ablation, 0, under each `--dtype-policy` given (float32, mixed_bfloat16).
The two sides alternate within each round and the median round is
reported, so load on the machine hits both alike.

Each row also gives the model FLOPs utilization (MFU): the step's
arithmetic (3x the forward pass's matrix products and attention, counted
by `step_flops`) per second, over the matmul peak of the precision used
(bfloat16 for mixed_bfloat16), measured in the same process
(`benchmarks/limits.py`).

Decoding: sentences per second of our cached, compiled greedy and beam
search against greedy decoding that re-runs the decoder over the whole
prefix at every step (the uncached reference loop).

    pip install keras-hub       # benchmark-only dependency
    python benchmarks/translation.py
    python benchmarks/translation.py --quick     # XLA only, fewer rounds
    python benchmarks/translation.py --size d512 --skip-decoding \
        --dtype-policy float32 mixed_bfloat16
"""

import argparse
import os
import platform
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# keras-hub's layers pass masks to sublayers that ignore them; harmless.
warnings.filterwarnings("ignore", message=".*does not support masking.*")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from limits import matmul_peak  # noqa: E402

from keras_transformer import losses  # noqa: E402
from keras_transformer.generation import beam_search  # noqa: E402
from keras_transformer.generation import greedy_search  # noqa: E402
from keras_transformer.models import Transformer  # noqa: E402

SIZES = {
    "tutorial": dict(
        num_layers=4, d_model=128, d_ff=512, num_heads=8, vocab=8000
    ),
    "d512": dict(num_layers=2, d_model=512, d_ff=2048, num_heads=8, vocab=8000),
}
SIZE = dict(SIZES["tutorial"])  # set by main()


def step_flops(batch, source, target):
    """Floating-point operations of one training step (forward and
    backward: 3x the forward), counting the matrix products only: the
    projections and feed-forwards of every block, the attention scores and
    mixes, and the output layer."""
    d, f, n, v = (
        SIZE["d_model"],
        SIZE["d_ff"],
        SIZE["num_layers"],
        SIZE["vocab"],
    )
    block = 4 * d * d + 2 * d * f  # Q, K, V, O and the feed-forward
    encoder = n * (block * source + 2 * source * source * d)
    # The decoder's self-attention, then its cross-attention (Q and O on
    # the target, K and V on the source).
    decoder = n * (
        block * target
        + 2 * target * target * d
        + 2 * d * d * (target + source)
        + 2 * target * source * d
    )
    forward = 2 * batch * (encoder + decoder + d * v * target)
    return 3 * forward


def ours(dropout_rate, length):
    return Transformer(
        src_vocab_size=SIZE["vocab"],
        tgt_vocab_size=SIZE["vocab"],
        num_layers=SIZE["num_layers"],
        d_model=SIZE["d_model"],
        num_heads=SIZE["num_heads"],
        d_ff=SIZE["d_ff"],
        dropout_rate=dropout_rate,
        max_length=length,
    )


def keras_hub_model(dropout_rate, length):
    """The same encoder-decoder from keras-hub layers (padding masks come
    from `mask_zero=True`, as keras-hub's own examples do it)."""
    import keras_hub

    d, vocab = SIZE["d_model"], SIZE["vocab"]
    src = keras.Input((None,), dtype="int32", name="source")
    tgt = keras.Input((None,), dtype="int32", name="target")
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocab, length, d, mask_zero=True
    )(src)
    for _ in range(SIZE["num_layers"]):
        x = keras_hub.layers.TransformerEncoder(
            SIZE["d_ff"], SIZE["num_heads"], dropout=dropout_rate
        )(x)
    y = keras_hub.layers.TokenAndPositionEmbedding(
        vocab, length, d, mask_zero=True
    )(tgt)
    for _ in range(SIZE["num_layers"]):
        y = keras_hub.layers.TransformerDecoder(
            SIZE["d_ff"], SIZE["num_heads"], dropout=dropout_rate
        )(y, x)
    logits = keras.layers.Dense(vocab, name="head")(y)
    return keras.Model([src, tgt], logits, name="keras_hub_transformer")


def compiled(model, jit):
    model.compile(
        keras.optimizers.Adam(1e-4, beta_2=0.98, epsilon=1e-9),
        losses.MaskedSparseCategoricalCrossentropy(),
        jit_compile=jit,
    )
    return model


def time_training(models, batch, rounds, iters):
    """Median seconds per training step of each model, alternating."""
    for model in models:  # compile and warm up
        for _ in range(2):
            model.train_on_batch(*batch)
    times = [[] for _ in models]
    for _ in range(rounds):
        for i, model in enumerate(models):
            start = time.perf_counter()
            for _ in range(iters):
                model.train_on_batch(*batch)
            times[i].append((time.perf_counter() - start) / iters)
    return [statistics.median(t) for t in times]


def training(args):
    length, batch_size = args.length, args.batch_size
    rng = np.random.default_rng(0)
    ids = rng.integers(4, SIZE["vocab"], size=(batch_size, length + 1))
    src = rng.integers(4, SIZE["vocab"], size=(batch_size, length))
    batch = ((src.astype("int32"), ids[:, :-1].astype("int32")), ids[:, 1:])
    tokens = batch_size * length
    flops = step_flops(batch_size, length, length)
    peaks = {
        policy: matmul_peak(_compute_dtype(policy))
        for policy in args.dtype_policy
    }
    print(
        "# matmul peak measured now: "
        + ", ".join(f"{p} {v / 1e9:.0f} GFLOP/s" for p, v in peaks.items())
        + f"; {flops / 1e9:.1f} GFLOP per training step"
    )
    print(
        f"{'policy':<16}{'xla':<6}{'dropout':>8}{'ours tok/s':>12}"
        f"{'ms/step':>9}{'MFU':>6}{'keras-hub tok/s':>17}{'MFU':>6}"
        f"{'ours/keras-hub':>16}"
    )
    results = []
    for policy in args.dtype_policy:
        keras.config.set_dtype_policy(policy)
        for jit in args.xla:
            for dropout_rate in args.dropout:
                keras.utils.set_random_seed(0)
                models = [
                    compiled(build(dropout_rate, length), jit)
                    for build in (ours, keras_hub_model)
                ]
                ours_s, hub_s = time_training(models, batch, args.rounds, 3)
                mfu = [flops / s / peaks[policy] for s in (ours_s, hub_s)]
                results.append(
                    (policy, jit, dropout_rate, tokens / ours_s, tokens / hub_s)
                )
                print(
                    f"{policy:<16}{str(jit):<6}{dropout_rate:>8}"
                    f"{tokens / ours_s:>12,.0f}{1000 * ours_s:>9.0f}"
                    f"{mfu[0]:>6.0%}{tokens / hub_s:>17,.0f}{mfu[1]:>6.0%}"
                    f"{hub_s / ours_s:>16.2f}",
                    flush=True,
                )
    keras.config.set_dtype_policy("float32")
    return results


def _compute_dtype(policy):
    return "bfloat16" if "bfloat16" in policy else "float32"


def decoding(args):
    keras.utils.set_random_seed(0)
    model = ours(0.0, 128)
    rng = np.random.default_rng(1)
    src = rng.integers(4, SIZE["vocab"], size=(args.decode_batch, 32))
    src = src.astype("int32")
    new = args.new_tokens
    # end_id -1 never occurs: every run generates exactly `new` tokens.
    runs = {
        "greedy, cached, XLA": lambda: greedy_search(model, src, new, 2, -1),
        "beam 4, cached, XLA": lambda: beam_search(
            model, src, new, 2, -1, beam_size=4
        ),
        "greedy, uncached": lambda: greedy_search(
            model, src, new, 2, -1, use_cache=False
        ),
    }
    print(
        f"\nDecoding {args.decode_batch} sentences x {new} new tokens "
        f"(source 32 tokens), median of {args.rounds}"
    )
    print(f"{'method':<22}{'sentences/s':>13}{'tokens/s':>11}")
    speeds = {}
    for name, run in runs.items():
        np.asarray(run()[0])  # compile and warm up
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            np.asarray(run()[0])
            times.append(time.perf_counter() - start)
        speeds[name] = args.decode_batch / statistics.median(times)
        print(
            f"{name:<22}{speeds[name]:>13,.1f}{speeds[name] * new:>11,.0f}",
            flush=True,
        )
    ratio = speeds["greedy, cached, XLA"] / speeds["greedy, uncached"]
    print(f"cached / uncached greedy: {ratio:.1f}x")
    return speeds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tutorial")
    parser.add_argument(
        "--dtype-policy",
        nargs="+",
        default=["float32"],
        choices=["float32", "mixed_bfloat16"],
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--rounds", type=int, help="default 5 (3 with --quick)")
    parser.add_argument("--decode-batch", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument(
        "--quick", action="store_true", help="XLA, dropout 0.1 only"
    )
    parser.add_argument("--skip-decoding", action="store_true")
    args = parser.parse_args(argv)
    args.xla = [True] if args.quick else [True, False]
    args.dropout = [0.1] if args.quick else [0.1, 0.0]
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    SIZE.update(SIZES[args.size])

    import keras_hub

    print(
        f"# {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, TF {tf.__version__}, "
        f"Keras {keras.__version__}, keras-hub {keras_hub.__version__}; "
        f"{SIZE}, batch {args.batch_size}, length {args.length}; "
        f"training tokens = target tokens; median of {args.rounds} rounds"
    )
    training(args)
    if not args.skip_decoding:
        decoding(args)


if __name__ == "__main__":
    main()
