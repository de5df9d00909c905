"""Stand-ins shared by the generation tests: a decoder with fixed logits,
and the random numbers of sampling computed in NumPy."""

import numpy as np
from keras import ops


class FixedLogits:
    """A decoder-only "model" whose next-token logits never change."""

    def __init__(self, logits, max_length=8):
        self.logits = np.asarray(logits, "float32")
        self.vocab_size = len(self.logits)
        self.max_length = max_length

    def start_decoding(self, batch_size, max_length):
        return {"rows": ops.zeros((batch_size, 1))}

    def decode_step(self, state, token_ids, index):
        rows = ops.shape(token_ids)[0]
        logits = ops.tile(ops.convert_to_tensor(self.logits)[None], (rows, 1))
        return logits, state


def _fmix32(h):
    """MurmurHash3's 32-bit finalizer on NumPy uint32."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def random_bits(seed, step, batch, width):
    """uint32 `(batch, width)`: what `generation._random.random_bits`
    promises, element `(r, c)` hashed from `(seed, step, r * width + c)`
    in uint32 arithmetic."""
    golden = np.uint32(0x9E3779B9)
    with np.errstate(over="ignore"):
        k1 = _fmix32(np.uint32(seed % 2**32) ^ golden)
        k2 = _fmix32(np.uint32(step % 2**32) + k1)
        count = np.arange(batch * width, dtype="uint32").reshape(batch, width)
        return _fmix32(_fmix32(count * golden ^ k1) + k2)


def gumbel_max(logits, seed, step, batch):
    """int `(batch,)`: the token each row draws from `logits` (one row of
    float32 logits for all) at `step`: argmax of the logits plus Gumbel
    noise made from the top 23 bits."""
    bits = random_bits(seed, step, batch, len(logits))
    u = ((bits >> np.uint32(9)).astype("float32") + 0.5) / np.float32(2**23)
    noisy = np.asarray(logits, "float32") - np.log(-np.log(u))
    return noisy.argmax(-1)
