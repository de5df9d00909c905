"""Training speed of our attention and encoder block against Keras' own.

Times one forward + backward pass (gradients of every weight) of
`MultiHeadSelfAttention` vs `keras.layers.MultiHeadAttention`, and of
`EncoderLayer` vs the same post-norm block assembled from Keras layers,
at each configuration, and prints tokens/s, the ratio ours / Keras, and
the share of this machine's float32 matmul peak (measured first, in the
same process) that our pass runs at. The two sides alternate within each
round and the median round is reported, so load on the machine hits both
alike.

    python benchmarks/attention.py              # graph mode
    python benchmarks/attention.py --xla        # jit_compile=True
    python benchmarks/attention.py --quick      # smallest config only
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import limits  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_transformer.layers import EncoderLayer  # noqa: E402
from keras_transformer.layers import MultiHeadSelfAttention  # noqa: E402

CONFIGS = [  # (d_model, length)
    (128, 64),
    (128, 256),
    (512, 64),
    (512, 256),
]


class KerasEncoderBlock(keras.layers.Layer):
    """The post-norm encoder block written with Keras' own layers."""

    def __init__(self, d_model, num_heads, d_ff, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, d_model // num_heads, dropout=dropout_rate
        )
        self.dropout1 = keras.layers.Dropout(dropout_rate)
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dense1 = keras.layers.Dense(d_ff, activation="relu")
        self.dense2 = keras.layers.Dense(d_model)
        self.dropout2 = keras.layers.Dropout(dropout_rate)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)

    def call(self, x, training=None):
        a = self.attention(x, x, training=training)
        x = self.norm1(x + self.dropout1(a, training=training))
        f = self.dense2(self.dense1(x))
        return self.norm2(x + self.dropout2(f, training=training))


class KerasSelfAttention(keras.layers.Layer):
    def __init__(self, d_model, num_heads, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, d_model // num_heads, dropout=dropout_rate
        )

    def call(self, x, training=None):
        return self.attention(x, x, training=training)


def pass_flops(name, tokens, d_model, length):
    """Floating-point operations of one forward and backward pass (the
    backward twice the forward): the four d x d projections, the scores
    and the weighted sum over `length` keys, and, for the encoder block,
    the d x 4d feed-forward."""
    forward = 8 * d_model**2 + 4 * length * d_model
    if name == "EncoderLayer":
        forward += 16 * d_model**2
    return 3 * tokens * forward


def make_step(layer, x, jit):
    layer(x)  # build

    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_mean(tf.square(tf.cast(y, "float32")))
        return tape.gradient(loss, [w.value for w in layer.trainable_weights])

    return step


def time_pair(steps, x, rounds, iters):
    """Median seconds per step of each function, alternating them."""
    for step in steps:  # compile and warm up
        for _ in range(2):
            [g.numpy() for g in step(x)]
    times = [[] for _ in steps]
    for _ in range(rounds):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            for _ in range(iters):
                grads = step(x)
            [g.numpy() for g in grads]
            times[i].append((time.perf_counter() - start) / iters)
    return [statistics.median(t) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xla", action="store_true", help="jit_compile=True")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-heads", type=int, default=8)
    parser.add_argument("--dropout-rate", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="first config")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    peak = limits.matmul_peak("float32")
    print(
        f"# {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, TF {tf.__version__}, "
        f"Keras {keras.__version__}, xla={args.xla}, "
        f"batch {args.batch_size}, {args.num_heads} heads, "
        f"dropout {args.dropout_rate}, median of {args.rounds} rounds; "
        f"float32 matmul peak {peak / 1e9:.0f} GFLOP/s"
    )
    header = (
        f"{'layer':<22}{'d_model':>8}{'length':>8}"
        f"{'ours tok/s':>13}{'keras tok/s':>13}{'ours/keras':>12}"
        f"{'of peak':>9}"
    )
    print(header)
    configs = CONFIGS[:1] if args.quick else CONFIGS
    for d_model, length in configs:
        x = tf.constant(
            np.random.default_rng(0).normal(
                size=(args.batch_size, length, d_model)
            ),
            "float32",
        )
        tokens = args.batch_size * length
        iters = max(1, int(4e4 // (length * d_model)))
        pairs = {
            "MultiHeadSelfAttention": (
                MultiHeadSelfAttention(
                    args.num_heads, dropout_rate=args.dropout_rate
                ),
                KerasSelfAttention(d_model, args.num_heads, args.dropout_rate),
            ),
            "EncoderLayer": (
                EncoderLayer(
                    d_model,
                    args.num_heads,
                    4 * d_model,
                    dropout_rate=args.dropout_rate,
                ),
                KerasEncoderBlock(
                    d_model, args.num_heads, 4 * d_model, args.dropout_rate
                ),
            ),
        }
        for name, (ours, reference) in pairs.items():
            steps = [
                make_step(layer, x, args.xla) for layer in (ours, reference)
            ]
            ours_s, ref_s = time_pair(steps, x, args.rounds, iters)
            flops = pass_flops(name, tokens, d_model, length)
            print(
                f"{name:<22}{d_model:>8}{length:>8}"
                f"{tokens / ours_s:>13,.0f}{tokens / ref_s:>13,.0f}"
                f"{ref_s / ours_s:>12.2f}{flops / ours_s / peak:>9.0%}"
            )


if __name__ == "__main__":
    main()
