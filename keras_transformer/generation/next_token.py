"""Choosing the next token from a row's logits: the repetition penalty,
temperature, top-k and top-p (nucleus) filters, and the draw.

The filters are defined by which tokens they keep: `top_k_keep` and
`top_p_keep` return boolean keep-masks, and the sampler draws among the
kept tokens only. The public `top_k_filter` and `top_p_filter` write
`MASKED` (-1e9) over the dropped logits, for use outside the sampler.
"""

from keras import ops

from keras_transformer.generation._common import MASKED
from keras_transformer.generation._random import uniform


def apply_repetition_penalty(logits, seen, penalty):
    """CTRL's penalty (Keskar et al., 2019): the logit of every token in
    `seen` (bool `(batch, vocab)`) is divided by `penalty` when positive
    and multiplied by it when negative, so `penalty > 1` makes repeats
    less likely and `1` changes nothing."""
    penalized = ops.where(logits > 0, logits / penalty, logits * penalty)
    return ops.where(seen, penalized, logits)


def top_k_keep(logits, k):
    """Bool `(batch, vocab)`: the `k` largest logits per row (ties with
    the k-th too). A `k` above the vocabulary keeps every token."""
    vocab = logits.shape[-1]
    if vocab is not None:
        k = min(int(k), int(vocab))
    kth = ops.top_k(logits, k)[0][:, -1:]
    return ops.greater_equal(logits, kth)


def top_p_keep(logits, p, keep=None):
    """Bool `(batch, vocab)`: the smallest set of most likely tokens whose
    probabilities sum to at least `p` (ties with the least likely kept
    token too). With `keep`, the probabilities are those of the
    distribution renormalized over the tokens `keep` allows, and only
    those can be kept. The most likely token is always kept, and
    `p >= 1` keeps every token (whatever the rounding of the running
    sum)."""
    if keep is None:
        keep = ops.ones_like(logits, dtype="bool")
    if p >= 1:
        return keep
    probs = ops.softmax(ops.where(keep, logits, float("-inf")), axis=-1)
    sorted_probs = ops.flip(ops.sort(probs, axis=-1), axis=-1)
    mass_before = ops.cumsum(sorted_probs, axis=-1) - sorted_probs
    kept = mass_before < p
    smallest_kept = ops.min(
        ops.where(kept, sorted_probs, 2.0), axis=-1, keepdims=True
    )
    return ops.logical_and(keep, probs >= smallest_kept)


def top_k_filter(logits, k):
    """Keeps the `k` largest logits per row (ties with the k-th are kept
    too); the rest become -1e9. A `k` above the vocabulary keeps every
    token."""
    return ops.where(top_k_keep(logits, k), logits, MASKED)


def top_p_filter(logits, p):
    """Nucleus filter (Holtzman et al., 2020): keeps the smallest set of
    most likely tokens whose probabilities sum to at least `p` (ties with
    the least likely kept token are kept too); the rest become -1e9.
    The most likely token is always kept, and `p >= 1` keeps every token
    (whatever the rounding of the running sum)."""
    if p >= 1:
        return logits
    return ops.where(top_p_keep(logits, p), logits, MASKED)


def _uniform(shape, seed, step):
    """Uniform floats strictly inside (0, 1) of `shape` `(batch, vocab)`,
    a function of `(seed, step)` and the position in `shape`, the same on
    every backend (see `keras_transformer.generation._random`)."""
    return uniform(seed, step, shape[0], shape[1])


def pick_next_token(logits, seen, step, seed, settings):
    """Each row's next token, int32 `(batch,)`, from its float32 logits
    `(batch, vocab)`, the tokens the row holds so far (`seen`, bool
    `(batch, vocab)`), the position `step` and `seed` of the draw, and
    the `SamplingSettings`: the repetition penalty, then temperature (0
    takes the most likely token), then top-k, then top-p, then one draw
    among the kept tokens."""
    if settings.repetition_penalty != 1.0:
        logits = apply_repetition_penalty(
            logits, seen, settings.repetition_penalty
        )
    if settings.temperature == 0.0:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    logits = logits / settings.temperature
    keep = None
    if settings.top_k is not None:
        keep = top_k_keep(logits, settings.top_k)
    if settings.top_p is not None and settings.top_p < 1.0:
        keep = top_p_keep(logits, settings.top_p, keep)
    # Gumbel-max: argmax(logits + Gumbel noise) is a draw from
    # softmax(logits).
    u = _uniform(ops.shape(logits), seed, step)
    noisy = logits - ops.log(-ops.log(u))
    if keep is not None:
        # Dropped tokens stay out whatever their noise.
        noisy = ops.where(keep, noisy, float("-inf"))
    return ops.cast(ops.argmax(noisy, axis=-1), "int32")


__all__ = ["apply_repetition_penalty", "top_k_filter", "top_p_filter"]
