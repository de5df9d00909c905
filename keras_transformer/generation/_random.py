"""The random numbers of sampling: a counter-based hash in integer
`keras.ops`, the same bits on every backend.

Element `(row, column)` of a step's `(batch, vocab)` draws is a function
of `(seed, step, row * vocab + column)` only: the same seed gives the
same tokens, in eager mode and in a compiled loop alike; the row index
is part of the counter, so equal prompts in one batch differ; and row 0
draws the same numbers whatever the batch size. The hash is
`fmix32(fmix32(count * golden ^ k1) + k2)`, with keys `k1`, `k2` hashed
from `(seed, step)` and MurmurHash3's 32-bit finalizer `fmix32` (public
domain, Austin Appleby): the bits of `keras_transformer._backend.
random_bits` (TensorFlow's dropout), so TensorFlow draws what it drew
before.

Why a hash and not `keras.random`: in Keras 3.15 `keras.random.uniform`
takes a seed tensor on JAX only (TensorFlow and PyTorch want an int or a
stateful `SeedGenerator`, which a compiled loop would have to re-seed
from the caller's seed tensor and thread through its state), its numbers
differ per backend, and they depend on the whole shape (row 0 would
change with the batch size). Measured here (2 CPU cores): under
`jax.jit`, a `(16, 50257)` draw takes 0.43 ms with the hash against 6.2
ms with `jax.random` (threefry), and a `(1, 65)` one 13 us with either;
on eager PyTorch, which dispatches each of the hash's ~50 small ops, the
`(1, 65)` draw takes 0.6 ms (against 0.09 ms for PyTorch's own
generator), a few percent of a small GPT's eager decoding step.

It runs in int32, the one integer type whose multiply, add and shifts
all backends implement (PyTorch 2.13 has no uint32 right shift on CPU):
multiplication and addition wrap modulo 2^32 on every backend, which is
what uint32 arithmetic does to the same bits; the logical right shift is
the arithmetic one with the sign bits masked off.
"""

from keras import ops

# Odd 32-bit constants: the golden-ratio increment and the two multipliers
# of MurmurHash3's finalizer, written as the int32 with the same bits.
_GOLDEN = 0x9E3779B9 - (1 << 32)
_MIX_1 = 0x85EBCA6B - (1 << 32)
_MIX_2 = 0xC2B2AE35 - (1 << 32)


def _int32(value):
    return ops.convert_to_tensor(value, "int32")


def _shift_right(h, n):
    """Logical right shift of the 32 bits of int32 `h` by `n` places."""
    shifted = ops.right_shift(h, _int32(n))
    return ops.bitwise_and(shifted, _int32((1 << (32 - n)) - 1))


def _fmix32(h):
    """MurmurHash3's finalizer: every input bit flips each output bit with
    probability close to 1/2. Elementwise on int32 bits."""
    h = ops.bitwise_xor(h, _shift_right(h, 16))
    h = ops.multiply(h, _int32(_MIX_1))
    h = ops.bitwise_xor(h, _shift_right(h, 13))
    h = ops.multiply(h, _int32(_MIX_2))
    return ops.bitwise_xor(h, _shift_right(h, 16))


def random_bits(seed, step, batch, width):
    """int32 `(batch, width)` of random bits (all 32 of them, the sign bit
    included), a function of the int32 scalars `seed` and `step` and of
    each element's counter `row * width + column`."""
    seed = ops.cast(seed, "int32")
    step = ops.cast(step, "int32")
    k1 = _fmix32(ops.bitwise_xor(seed, _int32(_GOLDEN)))
    k2 = _fmix32(ops.add(step, k1))
    rows = ops.arange(batch, dtype="int32")[:, None]
    columns = ops.arange(width, dtype="int32")[None, :]
    count = ops.add(ops.multiply(rows, _int32(width)), columns)
    h = _fmix32(ops.bitwise_xor(ops.multiply(count, _int32(_GOLDEN)), k1))
    return _fmix32(ops.add(h, k2))


def uniform(seed, step, batch, width):
    """float32 `(batch, width)` uniform strictly inside (0, 1) (see
    `random_bits`). 23 random bits: `(k + 0.5) / 2^23` is exact in
    float32, so the largest value is 1 - 2^-24, never 1 (where Gumbel
    noise would be infinite)."""
    top = ops.cast(
        _shift_right(random_bits(seed, step, batch, width), 9), "float32"
    )
    return (top + 0.5) * (1.0 / 2**23)
