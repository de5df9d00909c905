"""Sampling from a decoder-only model: greedy, temperature, top-k, top-p
(nucleus) and a repetition penalty, with per-row stop tokens.

The model is any decoder with `start_decoding(batch_size, max_length)`
and `decode_step(state, token_ids, index)` (see `keras_transformer.models.GPT`):
the prompt goes through in one pass (prefill), then one cached step per
token. The loop is compiled as one graph on TensorFlow (XLA by default).

Prompts of different lengths are right-padded. The prefill covers the
shortest prompt; from there every row advances one position per step,
and a row still inside its prompt takes its prompt's next token instead
of a sampled one. Each row therefore sees exactly its own tokens at its
own positions: with greedy decoding a batch gives what each prompt gives
alone. Sampled rows draw their own random numbers (the row's index is
part of the counter), so that equal prompts in one batch give different
texts; row 0 draws the same numbers whatever the batch size.
"""

import math
import numbers

import keras
from keras import ops

from keras_transformer.generation.search import _check
from keras_transformer.generation.search import _compile

NEG_INF = -1e9


def apply_repetition_penalty(logits, seen, penalty):
    """CTRL's penalty (Keskar et al., 2019): the logit of every token in
    `seen` (bool `(batch, vocab)`) is divided by `penalty` when positive
    and multiplied by it when negative, so `penalty > 1` makes repeats
    less likely and `1` changes nothing."""
    penalized = ops.where(logits > 0, logits / penalty, logits * penalty)
    return ops.where(seen, penalized, logits)


def top_k_filter(logits, k):
    """Keeps the `k` largest logits per row (ties with the k-th are kept
    too); the rest become `NEG_INF`. A `k` above the vocabulary keeps
    every token."""
    vocab = logits.shape[-1]
    if vocab is not None:
        k = min(int(k), int(vocab))
    kth = ops.top_k(logits, k)[0][:, -1:]
    return ops.where(logits < kth, NEG_INF, logits)


def top_p_filter(logits, p):
    """Nucleus filter (Holtzman et al., 2020): keeps the smallest set of
    most likely tokens whose probabilities sum to at least `p` (ties with
    the least likely kept token are kept too); the rest become `NEG_INF`.
    The most likely token is always kept, and `p >= 1` keeps every token
    (whatever the rounding of the running sum)."""
    if p >= 1:
        return logits
    probs = ops.softmax(logits, axis=-1)
    sorted_probs = ops.flip(ops.sort(probs, axis=-1), axis=-1)
    mass_before = ops.cumsum(sorted_probs, axis=-1) - sorted_probs
    kept = mass_before < p
    smallest_kept = ops.min(
        ops.where(kept, sorted_probs, 2.0), axis=-1, keepdims=True
    )
    return ops.where(probs < smallest_kept, NEG_INF, logits)


def _uniform(shape, seed, step):
    """Uniform floats strictly inside (0, 1), a function of (seed, step)
    and the position in `shape`. 23 random bits: `(k + 0.5) / 2^23` is
    exact in float32, so the largest value is 1 - 2^-24, never 1 (where
    the Gumbel noise would be infinite)."""
    import tensorflow as tf

    from keras_transformer._backend import random_bits

    bits = random_bits(tf, shape, tf.stack([seed, step]))
    top = tf.cast(tf.bitwise.right_shift(bits, 9), tf.float32)
    return (top + 0.5) * (1.0 / 2**23)


def _next_token(logits, seen, step, seed, settings):
    """Picks each row's next token from its float32 logits."""
    temperature, top_k, top_p, penalty = settings
    if penalty != 1.0:
        logits = apply_repetition_penalty(logits, seen, penalty)
    if temperature == 0.0:
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    # Gumbel-max: argmax(logits + Gumbel noise) is a draw from
    # softmax(logits).
    u = _uniform(ops.shape(logits), seed, step)
    gumbel = -ops.log(-ops.log(u))
    # Filtered tokens stay out whatever their noise.
    noisy = ops.where(logits <= NEG_INF, NEG_INF, logits + gumbel)
    return ops.cast(ops.argmax(noisy, axis=-1), "int32")


def _is_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _check_settings(temperature, top_k, top_p, repetition_penalty):
    if not _is_number(temperature) or temperature < 0:
        raise ValueError(
            f"`temperature` must be a number >= 0 (0 is greedy). "
            f"Received: temperature={temperature!r}"
        )
    if top_k is not None:
        _check("top_k", top_k)
    if top_p is not None and not (_is_number(top_p) and 0 < top_p <= 1):
        raise ValueError(
            f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}"
        )
    if not (_is_number(repetition_penalty) and repetition_penalty > 0):
        raise ValueError(
            "`repetition_penalty` must be a number > 0 (1 is none). "
            f"Received: repetition_penalty={repetition_penalty!r}"
        )
    return (
        float(temperature),
        top_k,
        None if top_p is None else float(top_p),
        float(repetition_penalty),
    )


def _check_ids_setting(stop_token_ids, seed, pad_id):
    """The stop ids as a tuple of ints; `seed` and `pad_id` ints."""
    for name, value in (("seed", seed), ("pad_id", pad_id)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            if not hasattr(value, "dtype"):  # a tensor seed is fine
                raise ValueError(
                    f"`{name}` must be an int. Received: {name}={value!r}"
                )
    if isinstance(stop_token_ids, (str, bytes)) or not hasattr(
        stop_token_ids, "__iter__"
    ):
        raise ValueError(
            "`stop_token_ids` must be a list of ints. "
            f"Received: stop_token_ids={stop_token_ids!r}"
        )
    stops = tuple(stop_token_ids)
    for s in stops:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool):
            raise ValueError(
                "`stop_token_ids` must be a list of ints. "
                f"Received: stop_token_ids={stop_token_ids!r}"
            )
    return tuple(int(s) for s in stops)


def _prompts(prompt_ids, prompt_lengths, pad_id):
    """Right-padded int32 `(batch, P)` ids and their lengths, as NumPy."""
    import numpy as np

    if prompt_lengths is None and isinstance(prompt_ids, (list, tuple)):
        if any(isinstance(row, numbers.Integral) for row in prompt_ids):
            raise ValueError(
                "`prompt_ids` must be a list of id lists (one per prompt), "
                "or (batch, length) ids. Received a flat list of ids: wrap "
                "one prompt as [ids]."
            )
        rows = [np.asarray(row).reshape(-1) for row in prompt_ids]
        for row in rows:
            if row.size and not np.issubdtype(row.dtype, np.integer):
                raise ValueError(
                    "`prompt_ids` must be integer ids. "
                    f"Received dtype {row.dtype}"
                )
        rows = [row.astype("int64") for row in rows]
        if not rows:
            raise ValueError("`prompt_ids` is empty: give at least one prompt.")
        lengths = np.array([len(row) for row in rows])
        ids = np.full((len(rows), max(lengths.max(), 1)), pad_id, "int64")
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
    else:
        ids = np.asarray(ops.convert_to_numpy(prompt_ids))
        if ids.ndim != 2:
            raise ValueError(
                "`prompt_ids` must be (batch, length) ids or a list of id "
                f"lists. Received: shape {ids.shape}"
            )
        lengths = (
            np.full((ids.shape[0],), ids.shape[1])
            if prompt_lengths is None
            else np.asarray(ops.convert_to_numpy(prompt_lengths)).reshape(-1)
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"`prompt_ids` must be integer ids. Received dtype {ids.dtype}"
        )
    if len(lengths) != len(ids):
        raise ValueError(
            f"`prompt_lengths` has {len(lengths)} entries for {len(ids)} "
            "prompts."
        )
    if lengths.min() < 1 or lengths.max() > ids.shape[1]:
        raise ValueError(
            "Every prompt needs at least one token (and at most the padded "
            f"width {ids.shape[1]}). Received lengths {lengths.tolist()}"
        )
    return ids.astype("int32"), lengths.astype("int32")


def sample(
    model,
    prompt_ids,
    max_new_tokens,
    prompt_lengths=None,
    temperature=1.0,
    top_k=None,
    top_p=None,
    repetition_penalty=1.0,
    seed=0,
    stop_token_ids=(),
    pad_id=0,
    use_cache=True,
    jit_compile=True,
):
    """Continues each prompt by up to `max_new_tokens` tokens.

    At each step the next-token logits go through, in order: the
    repetition penalty, `temperature` (0 picks the most likely token:
    greedy), `top_k`, then `top_p`, and one token is drawn. The same
    `seed` gives the same tokens; each step's random numbers depend only
    on `(seed, step)` and the batch shape.

    Args:
        model: a decoder-only model such as `keras_transformer.models.GPT`.
        prompt_ids: a list of id lists (any lengths), or `(batch, length)`
            ids, right-padded when `prompt_lengths` is given.
        max_new_tokens: int. Most tokens generated per row.
        prompt_lengths: optional `(batch,)` real lengths of `prompt_ids`.
        temperature: float >= 0. Divides the logits; 0 is greedy.
        top_k: optional int. Sample among the `k` most likely tokens.
        top_p: optional float in (0, 1]. Sample among the smallest set of
            most likely tokens whose probability reaches `p`.
        repetition_penalty: float > 0. Penalizes every token already in
            the row (prompt included); 1 is none.
        seed: int. Seed of the draws.
        stop_token_ids: ints. A row stops after generating one of them
            (it is kept in the output); later positions are `pad_id`.
        pad_id: int. Fills rows after they stop.
        use_cache: bool. `False` re-runs the model over the whole prefix
            at every step (slow, eager; a reference for tests).
        jit_compile: bool. Compile the cached loop with XLA.

    Returns:
        `(tokens, lengths)`: int32 `(batch, max_new_tokens)` new tokens per
        row (right-padded with `pad_id`) and `(batch,)` how many each row
        generated (a stop token included).
    """
    import numpy as np

    _check("max_new_tokens", max_new_tokens)
    settings = _check_settings(temperature, top_k, top_p, repetition_penalty)
    stops = _check_ids_setting(stop_token_ids, seed, pad_id)
    ids, lengths = _prompts(prompt_ids, prompt_lengths, pad_id)
    real = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    outside = real & ((ids < 0) | (ids >= model.vocab_size))
    if outside.any():
        raise ValueError(
            f"Prompt ids must be in [0, {model.vocab_size}) (the model's "
            f"vocab_size). Received {sorted(set(ids[outside].tolist()))}"
        )
    total = ids.shape[1] + max_new_tokens
    if total > model.max_length:
        raise ValueError(
            f"The padded prompt ({ids.shape[1]} tokens) plus max_new_tokens "
            f"({max_new_tokens}) is {total} tokens, more than the model's "
            f"max_length={model.max_length}. Shorten the prompt or generate "
            "fewer tokens."
        )
    first = int(lengths.min())
    args = (max_new_tokens, first, settings, stops, pad_id)
    if not use_cache:
        tokens, ends = _uncached_loop(model, ids, lengths, seed, *args)
    else:

        def make_run(model_ref):
            def run(ids, lengths, seed):
                return _cached_loop(
                    model_ref(), ids, lengths, seed, total, *args
                )

            return run

        key = ("sample", total) + args
        fn = _compile(model, key, make_run, jit_compile)
        tokens, ends = fn(
            ops.convert_to_tensor(ids),
            ops.convert_to_tensor(lengths),
            ops.convert_to_tensor(int(seed), "int32"),
        )
    return _new_tokens(
        np.asarray(tokens), np.asarray(ends), lengths, max_new_tokens, pad_id
    )


def sample_padded(
    model,
    ids,
    lengths,
    max_new_tokens,
    seed,
    temperature=1.0,
    top_k=None,
    top_p=None,
    repetition_penalty=1.0,
    stop_token_ids=(),
    pad_id=0,
    jit_compile=True,
):
    """`sample` on tensors, for use inside a traced graph (an exported
    model): `ids` `(batch, width)` right-padded with a static `width`,
    `lengths` `(batch,)` >= 1 and `seed` may be symbolic.

    The prefill covers one token (the shortest prompt is unknown when
    tracing); the other prompt tokens go through one cached step each.
    The draws are those of `sample` with the same seed, so both give the
    same tokens.

    Returns:
        `(sequences, ends)`: int32 `(batch, width + max_new_tokens)`,
        each row's prompt then its new tokens then `pad_id`, and `(batch,)`
        the end of each row's tokens.
    """
    _check("max_new_tokens", max_new_tokens)
    settings = _check_settings(temperature, top_k, top_p, repetition_penalty)
    stops = _check_ids_setting(stop_token_ids, 0, pad_id)
    if not keras.backend.standardize_dtype(ids.dtype).startswith(
        ("int", "uint")
    ):
        raise ValueError(
            f"`ids` must be integer ids. Received: ids.dtype={ids.dtype}"
        )
    width = ids.shape[1]
    if width is None:
        raise ValueError("`ids` needs a static width (its second axis).")
    total = int(width) + max_new_tokens
    if total > model.max_length:
        raise ValueError(
            f"The padded width ({width}) plus max_new_tokens "
            f"({max_new_tokens}) is {total} tokens, more than the model's "
            f"max_length={model.max_length}."
        )
    args = (max_new_tokens, 1, settings, stops, pad_id)

    def make_run(model_ref):
        def run(ids, lengths, seed):
            return _cached_loop(model_ref(), ids, lengths, seed, total, *args)

        return run

    fn = _compile(model, ("sample_padded", total) + args, make_run, jit_compile)
    return fn(
        ops.cast(ids, "int32"),
        ops.cast(lengths, "int32"),
        ops.cast(seed, "int32"),
    )


def _new_tokens(sequences, ends, lengths, max_new_tokens, pad_id):
    """Each row's generated part, `(batch, max_new_tokens)`, and its
    length."""
    import numpy as np

    batch = len(sequences)
    new = np.full((batch, max_new_tokens), pad_id, "int32")
    counts = (ends - lengths).astype("int32")
    for row in range(batch):
        new[row, : counts[row]] = sequences[row, lengths[row] : ends[row]]
    return new, counts


def _step_update(
    logits, seq, seen, done, ends, i, lengths, seed, args, stops_tensor
):
    """One position of the loop, shared by the cached and uncached paths:
    the token at position `i` for every row."""
    max_new_tokens, _, settings, stops, pad_id = args
    vocab = ops.shape(logits)[-1]
    forced = ops.less(i, lengths)
    drawn = _next_token(logits, seen, i, seed, settings)
    token = ops.where(forced, seq[:, i], drawn)
    token = ops.where(done, pad_id, token)
    seq = ops.slice_update(seq, (0, i), token[:, None])
    live = ops.logical_not(done)
    seen = ops.logical_or(
        seen,
        ops.logical_and(
            ops.cast(ops.one_hot(token, vocab), "bool"), live[:, None]
        ),
    )
    ends = ops.where(live, i + 1, ends)
    generated = ops.logical_and(live, ops.logical_not(forced))
    stopped = ops.logical_and(
        generated, ops.any(ops.equal(token[:, None], stops_tensor), axis=-1)
    )
    done = ops.logical_or(done, stopped)
    done = ops.logical_or(
        done, ops.greater_equal(i + 1, lengths + max_new_tokens)
    )
    return token, seq, seen, done, ends


def _start(ids, lengths, args, vocab):
    max_new_tokens, first, _, stops, pad_id = args
    batch = ops.shape(ids)[0]
    seq = ops.pad(ids, ((0, 0), (0, max_new_tokens)), constant_values=pad_id)
    seen = ops.any(ops.cast(ops.one_hot(ids[:, :first], vocab), "bool"), axis=1)
    done = ops.zeros((batch,), "bool")
    ends = ops.cast(lengths, "int32")
    # -1 matches no token: an empty stop list stops nothing.
    stops_tensor = ops.convert_to_tensor(list(stops) or [-1], "int32")
    return seq, seen, done, ends, stops_tensor[None, :]


def _cached_loop(model, ids, lengths, seed, total, *args):
    first = args[1]
    state = model.start_decoding(ops.shape(ids)[0], total)
    logits, state = model.decode_step(state, ids[:, :first], 0)
    vocab = ops.shape(logits)[-1]
    seq, seen, done, ends, stops = _start(ids, lengths, args, vocab)

    def cond(i, logits, seq, seen, done, ends, state):
        return ops.logical_and(
            ops.less(i, total), ops.logical_not(ops.all(done))
        )

    def body(i, logits, seq, seen, done, ends, state):
        token, seq, seen, done, ends = _step_update(
            ops.cast(logits, "float32"),
            seq,
            seen,
            done,
            ends,
            i,
            lengths,
            seed,
            args,
            stops,
        )
        # A finished row holds `pad_id`, maybe no id of the model: feed it
        # a valid one (its output is not used).
        fed = ops.clip(token, 0, vocab - 1)
        logits, state = model.decode_step(state, fed[:, None], i)
        return i + 1, logits, seq, seen, done, ends, state

    loop = ops.while_loop(
        cond,
        body,
        (
            ops.convert_to_tensor(first, "int32"),
            ops.cast(logits, "float32"),
            seq,
            seen,
            done,
            ends,
            state,
        ),
        maximum_iterations=total - first,
    )
    return loop[2], loop[5]


def _uncached_loop(model, ids, lengths, seed, *args):
    """The same loop re-running `model` over the whole prefix each step."""
    max_new_tokens, first, _, _, _ = args
    total = ids.shape[1] + max_new_tokens
    seed = ops.convert_to_tensor(int(seed), "int32")
    lengths = ops.convert_to_tensor(lengths)
    ids = ops.convert_to_tensor(ids)
    vocab = model.vocab_size
    seq, seen, done, ends, stops = _start(ids, lengths, args, vocab)
    for i in range(first, total):
        prefix = ops.clip(seq[:, :i], 0, vocab - 1)  # see _cached_loop
        logits = model(prefix, training=False)[:, -1]
        position = ops.convert_to_tensor(i, "int32")
        _, seq, seen, done, ends = _step_update(
            ops.cast(logits, "float32"),
            seq,
            seen,
            done,
            ends,
            position,
            lengths,
            seed,
            args,
            stops,
        )
        if bool(ops.all(done)):
            break
    return seq, ends


__all__ = [
    "apply_repetition_penalty",
    "sample",
    "sample_padded",
    "top_k_filter",
    "top_p_filter",
]
