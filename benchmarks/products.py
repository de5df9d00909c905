"""Where int8 and bfloat16 decoding lose their advantage: the matrix
products of one GPT-2-small decoding step (12 blocks of 768x2304 Q/K/V,
768x768 W_O, 768x3072 and 3072x768 feed-forward kernels; 85M weights) at
batch 1, timed alone in each form the weights can take, compiled with XLA
and as a plain TensorFlow graph (oneDNN kernels on x86):

- float32: `x W`;
- int8 x int8: what Keras' int8 `Dense` computes (the input quantized to
  int8, an integer product into int32, then scaled back);
- int8 weights only: the kernel cast to float32 (or bfloat16) inside the
  product, a quarter of float32's bytes to read;
- bfloat16: `x W` with both in bfloat16, half the bytes.

Batch-1 decoding reads every weight once per step, so a form that reads
fewer bytes should be faster if the product streams its weights at the
memory's speed. Median of `--rounds` runs of each.

    python benchmarks/products.py
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

SHAPES = [(768, 2304), (768, 768), (768, 3072), (3072, 768)] * 12


def forms():
    rng = tf.random.Generator.from_seed(0)
    floats = [rng.normal(shape) for shape in SHAPES]
    ints = [
        tf.cast(tf.clip_by_value(tf.round(w * 40), -127, 127), tf.int8)
        for w in floats
    ]
    halves = [tf.cast(w, tf.bfloat16) for w in floats]
    inputs = {d: rng.normal((1, d)) for d in (768, 3072)}

    def total(products):
        return tf.add_n(
            [tf.reduce_sum(tf.cast(p, tf.float32)) for p in products]
        )

    def int8_product(w):
        x = inputs[w.shape[0]]
        scale = 127.0 / tf.reduce_max(tf.abs(x))
        q = tf.cast(tf.round(x * scale), tf.int8)
        return (
            tf.cast(tf.matmul(q, w, output_type=tf.int32), tf.float32) / scale
        )

    return {
        "float32": lambda: total(inputs[w.shape[0]] @ w for w in floats),
        "int8 x int8": lambda: total(int8_product(w) for w in ints),
        "int8 weights -> float32": lambda: total(
            inputs[w.shape[0]] @ tf.cast(w, tf.float32) for w in ints
        ),
        "int8 weights -> bfloat16": lambda: total(
            tf.cast(inputs[w.shape[0]], tf.bfloat16) @ tf.cast(w, tf.bfloat16)
            for w in ints
        ),
        "bfloat16": lambda: total(
            tf.cast(inputs[w.shape[0]], tf.bfloat16) @ w for w in halves
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    weights = sum(a * b for a, b in SHAPES)
    print(
        f"# {weights / 1e6:.1f}M weights in {len(SHAPES)} products, batch 1; "
        f"median of {args.rounds} rounds"
    )
    print(f"{'form':<26}{'XLA ms':>8}{'graph ms':>10}")
    for name, fn in forms().items():
        times = []
        for jit in (True, False):
            compiled = tf.function(fn, jit_compile=jit)
            compiled().numpy()
            seconds = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                compiled().numpy()
                seconds.append(time.perf_counter() - start)
            times.append(1000 * statistics.median(seconds))
        print(f"{name:<26}{times[0]:>8.1f}{times[1]:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
