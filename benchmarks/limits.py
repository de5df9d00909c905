"""What this machine can do at most, measured in the calling process, so a
benchmark can print each speed as a fraction of its limit:

- `read_bandwidth()`: bytes per second a compiled (XLA) matrix-vector
  product streams from memory, over a matrix (512 MB by default) far
  larger than any cache. Batch-1 decoding reads every weight once per
  token, so `bandwidth / weight bytes` bounds its tokens per second.
- `matmul_peak(dtype)`: floating-point operations per second of a large
  matrix product in `dtype` (float32 or bfloat16), the faster of
  TensorFlow's own kernel (oneDNN on x86) and XLA's: the bound of
  training and of decoding at large batches.
- `products_seconds(shapes, rows, passes)`: the time XLA takes for
  nothing but the matrix products of a model's weights (`shapes`, as
  `(inputs, outputs)` pairs, one after another as the layers run) on
  `rows` input rows, `passes` times in one compiled loop: what decoding
  would take if the rest (attention over the cache, norms, the sampler)
  were free. Its gap to the read bandwidth is that of XLA's kernels at
  these sizes.

`step_weights(model)` names the weights a GPT's decoding step reads in
full, the bytes the bandwidth limit counts. All are medians of repeated
runs, like the speeds they are compared to.
"""

import statistics
import time

import tensorflow as tf


def _median_seconds(fn, rounds):
    fn()  # compile
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def read_bandwidth(megabytes=512, rounds=9):
    """Bytes/s of a compiled float32 matrix-vector product over a
    `megabytes` matrix (the matrix's bytes over the time)."""
    columns = 16384
    rows = max(1, megabytes * 2**20 // (4 * columns))
    matrix = tf.random.normal((rows, columns))
    vector = tf.random.normal((columns, 1))
    product = tf.function(lambda: tf.matmul(matrix, vector), jit_compile=True)
    seconds = _median_seconds(lambda: product().numpy(), rounds)
    return rows * columns * 4 / seconds


def matmul_peak(dtype="float32", size=2048, rounds=7):
    """FLOP/s of a `size` x `size` x `size` matrix product in `dtype`
    (2 size^3 operations), the faster of graph mode and XLA."""
    a = tf.cast(tf.random.normal((size, size)), dtype)
    b = tf.cast(tf.random.normal((size, size)), dtype)
    best = 0.0
    for jit in (False, True):
        product = tf.function(
            lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), "float32")),
            jit_compile=jit,
        )
        seconds = _median_seconds(lambda f=product: f().numpy(), rounds)
        best = max(best, 2 * size**3 / seconds)
    return best


def products_seconds(shapes, rows, passes=1, rounds=7):
    """Seconds of `passes` passes, in one compiled loop (as decoding
    runs them), each doing only `x W` for a random float32 `W` of each
    `(inputs, outputs)` shape in turn, each product's input taken from
    the one before (so they run one after another, as a model's layers
    do), the first from the pass before (so no pass can be hoisted out of
    the loop)."""
    matrices = [tf.random.normal(shape) / shape[0] ** 0.5 for shape in shapes]
    widest = max(shape[0] for shape in shapes)

    def widen(x, width):
        reps = -(-width // x.shape[1])  # ceil
        return tf.tile(x, (1, reps))[:, :width]

    def one_pass(i, x):
        for matrix in matrices:
            x = tf.matmul(widen(x, matrix.shape[0]), matrix)
        return i + 1, widen(tf.tanh(x), widest)

    def loop():
        start = tf.random.stateless_normal((rows, widest), (1, 2))
        return tf.while_loop(lambda i, x: i < passes, one_pass, (0, start))[1]

    compiled = tf.function(loop, jit_compile=True)
    return _median_seconds(lambda: compiled().numpy(), rounds)


def step_weights(model):
    """The weights of a GPT that a decoding step reads in full: all but
    the position table (one row is read), and the token table only when
    it is also the output layer (otherwise one row per token)."""
    read = []
    for weight in model.weights:
        if "position_embedding" in weight.path:
            continue
        if "token_embedding" in weight.path and not model.tie_embeddings:
            continue
        read.append(weight)
    return read
