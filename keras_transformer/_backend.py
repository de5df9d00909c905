"""The few places where a backend's own op is much faster than the
portable `keras.ops` one. Each function falls back to Keras elsewhere.
"""

import keras

# Odd 32-bit constants: the golden-ratio increment, and the two multipliers
# of MurmurHash3's 32-bit finalizer (public domain, Austin Appleby).
_GOLDEN = 0x9E3779B9
_MIX_1 = 0x85EBCA6B
_MIX_2 = 0xC2B2AE35


def _fmix32(tf, h):
    """MurmurHash3's finalizer: every input bit flips each output bit with
    probability close to 1/2. Elementwise on uint32."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))
    h = h * tf.constant(_MIX_1, tf.uint32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13))
    h = h * tf.constant(_MIX_2, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def random_bits(tf, shape, seed):
    """uint32 random bits of `shape` from a `(2,)` integer seed: a
    counter-based generator, element `i` = fmix32(fmix32(i * golden ^ k1)
    + k2) with keys k1, k2 hashed from the seed. Same seed, same bits, in
    eager, graph and XLA alike.

    Dropout masks need bits that look independent, not cryptographic
    ones; this draws them with about ten integer operations per element,
    which XLA fuses into one vectorized loop. TensorFlow's Philox takes
    about six times as long on this kind of CPU (9.1 ms against 1.6 ms
    for a (64, 8, 64, 64) mask under XLA, measured here).
    """
    seed = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    k1 = _fmix32(
        tf, tf.bitwise.bitwise_xor(seed[0], tf.constant(_GOLDEN, tf.uint32))
    )
    k2 = _fmix32(tf, seed[1] + k1)
    count = tf.bitcast(
        tf.range(tf.reduce_prod(shape), dtype=tf.int32), tf.uint32
    )
    h = _fmix32(
        tf, tf.bitwise.bitwise_xor(count * tf.constant(_GOLDEN, tf.uint32), k1)
    )
    return tf.reshape(_fmix32(tf, h + k2), shape)


def dropout(inputs, rate, seed_generator):
    """Inverted dropout: zero each value with probability `rate`, scale the
    rest by `1 / (1 - rate)`.

    On TensorFlow the keep mask compares `random_bits` with `rate * 2^32`.
    The default ("auto_select") generator that `keras.random.dropout`
    gets is about 14x slower than Philox inside an XLA-compiled step on
    CPU, and Philox about 6x slower than `random_bits`; dropout's random
    numbers were the largest single cost of a small Transformer's
    training step.
    """
    if keras.backend.backend() != "tensorflow":
        return keras.random.dropout(inputs, rate, seed=seed_generator)
    import tensorflow as tf

    inputs = tf.convert_to_tensor(inputs)
    bits = random_bits(tf, tf.shape(inputs), seed_generator.next())
    threshold = tf.constant(min(round(rate * 2.0**32), 2**32 - 1), tf.uint32)
    scale = tf.cast(1.0 / (1.0 - rate), inputs.dtype)
    return tf.where(bits >= threshold, inputs * scale, tf.zeros_like(inputs))


# -- input checks ---------------------------------------------------------
#
# Values can be checked in Python only when they are known: NumPy arrays and
# eager tensors. Inside a traced function (a Keras-compiled step, a user's
# `tf.function`, `jax.jit`) they are symbolic; there the checks below add a
# TensorFlow assert op (graph mode; XLA drops asserts) or nothing.


def concrete(x):
    """`x` as a NumPy array when its values are known now (NumPy arrays,
    Python lists and numbers, eager tensors), else `None` (symbolic or
    traced tensors, `keras.KerasTensor`)."""
    import numpy as np

    if x is None or isinstance(x, keras.KerasTensor):
        return None
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        return np.asarray(x)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(x, tf.Tensor) and tf.executing_eagerly():
            return x.numpy() if hasattr(x, "numpy") else None
        return None
    if backend == "jax":
        import jax

        tracer = getattr(jax.core, "Tracer", None)
        if tracer is not None and isinstance(x, tracer):
            return None
        return np.asarray(x)
    if backend == "torch":
        import torch

        if not isinstance(x, torch.Tensor):
            return None
        compiler = getattr(torch, "compiler", None)
        compiling = getattr(compiler, "is_compiling", lambda: False)()
        if compiling or x.device.type == "meta":
            return None
        return x.detach().cpu().numpy()
    return None


def assert_in_range(x, low, high, message):
    """`x` after an assert that every value lies in `[low, high)`, in a
    TensorFlow graph (the assert fails the step with `message`); `x`
    unchanged elsewhere. XLA compiles the assert away."""
    if keras.backend.backend() != "tensorflow":
        return x
    import tensorflow as tf

    if tf.executing_eagerly() or not isinstance(x, tf.Tensor):
        return x
    ok = tf.logical_and(
        tf.reduce_all(x >= tf.cast(low, x.dtype)),
        tf.reduce_all(x < tf.cast(high, x.dtype)),
    )
    check = tf.debugging.Assert(ok, [message])
    with tf.control_dependencies([check]):
        return tf.identity(x)
