"""Sampling from a decoder-only model: greedy, temperature, top-k, top-p
(nucleus) and a repetition penalty, with per-row stop tokens.

The model is any decoder with `start_decoding(batch_size, max_length)`
and `decode_step(state, token_ids, index)` (see `keras_transformer.models.GPT`):
the prompt goes through in one pass (prefill), then one cached step per
token. The loop is compiled once per model and setting (XLA on
TensorFlow and JAX by default, eager on PyTorch; see
`_common.compile_loop`). How each token is picked is in `next_token`;
what happens to a prompt longer than the window leaves room for is in
`prompts`.

Prompts of different lengths are right-padded. The prefill covers the
shortest prompt; from there every row advances one position per step,
and a row still inside its prompt takes its prompt's next token instead
of a sampled one. Each row therefore sees exactly its own tokens at its
own positions: with greedy decoding a batch gives what each prompt gives
alone. Sampled rows draw their own random numbers (the row's index is
part of the counter), so that equal prompts in one batch give different
texts; row 0 draws the same numbers whatever the batch size.
"""

import dataclasses
from typing import Any
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from keras_transformer.generation._common import SamplingSettings
from keras_transformer.generation._common import check_int
from keras_transformer.generation._common import compile_loop
from keras_transformer.generation._common import is_int
from keras_transformer.generation.next_token import pick_next_token
from keras_transformer.generation.prompts import check_long_prompt
from keras_transformer.generation.prompts import fit_padded
from keras_transformer.generation.prompts import parse_prompts


@dataclasses.dataclass(frozen=True)
class _LoopSettings:
    """What a compiled sampling loop is made for (with its total length).

    Attributes:
        max_new_tokens: most tokens a row generates.
        prefill: prompt tokens fed in the first pass (the shortest
            prompt's length; 1 when it is unknown).
        sampling: the `SamplingSettings` of each draw.
        stop_token_ids: tuple of ints that stop a row.
        pad_id: int written after a row stops.
    """

    max_new_tokens: int
    prefill: int
    sampling: SamplingSettings
    stop_token_ids: tuple
    pad_id: int


class _Rows(NamedTuple):
    """What the loop carries for the rows, one entry per row."""

    tokens: Any  # int32 (batch, total): prompt, new tokens, then pad_id
    seen: Any  # bool (batch, vocab): the tokens the row holds so far
    done: Any  # bool (batch,): the row has stopped
    ends: Any  # int32 (batch,): the end of the row's tokens


def _check_ids_settings(stop_token_ids, seed, pad_id):
    """The stop ids as a tuple of ints; `seed` and `pad_id` ints."""
    for name, value in (("seed", seed), ("pad_id", pad_id)):
        if not is_int(value) and not hasattr(value, "dtype"):
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
    if not all(is_int(s) for s in stops):
        raise ValueError(
            "`stop_token_ids` must be a list of ints. "
            f"Received: stop_token_ids={stop_token_ids!r}"
        )
    return tuple(int(s) for s in stops)


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
    long_prompt="error",
):
    """Continues each prompt by up to `max_new_tokens` tokens.

    At each step the next-token logits go through, in order: the
    repetition penalty, `temperature` (0 picks the most likely token:
    greedy), `top_k`, then `top_p`, and one token is drawn. The same
    `seed` gives the same tokens, compiled or not: each draw's random
    numbers depend only on `(seed, step)`, the row's index and the token,
    and are the same on every backend (see
    `keras_transformer.generation._random`); only logits that backends
    round differently could tell them apart.

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
        jit_compile: bool. Compile the cached loop with XLA (TensorFlow,
            JAX); PyTorch runs it eagerly either way.
        long_prompt: `"error"` (default) or `"crop"`: what happens to a
            prompt longer than `model.max_length - max_new_tokens` tokens
            (see `keras_transformer.generation.fit_prompts`): a
            `ValueError` naming it, or keep its last tokens. Padding
            never counts: only each prompt's real length does.

    Returns:
        `(tokens, lengths)`: int32 `(batch, max_new_tokens)` new tokens per
        row (right-padded with `pad_id`) and `(batch,)` how many each row
        generated (a stop token included).
    """
    check_int("max_new_tokens", max_new_tokens)
    settings = SamplingSettings(temperature, top_k, top_p, repetition_penalty)
    stops = _check_ids_settings(stop_token_ids, seed, pad_id)
    check_long_prompt(long_prompt)
    ids, lengths = parse_prompts(prompt_ids, prompt_lengths, pad_id)
    real = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    outside = real & ((ids < 0) | (ids >= model.vocab_size))
    if outside.any():
        raise ValueError(
            f"Prompt ids must be in [0, {model.vocab_size}) (the model's "
            f"vocab_size). Received {sorted(set(ids[outside].tolist()))}"
        )
    ids, lengths = fit_padded(
        ids, lengths, model.max_length, max_new_tokens, long_prompt, pad_id
    )
    total = ids.shape[1] + max_new_tokens
    loop = _LoopSettings(
        max_new_tokens, int(lengths.min()), settings, stops, int(pad_id)
    )
    if not use_cache:
        tokens, ends = _uncached_loop(model, ids, lengths, seed, loop)
    else:

        def make_run(model_ref):
            def run(ids, lengths, seed):
                return _cached_loop(
                    model_ref(), ids, lengths, seed, total, loop
                )

            return run

        fn = compile_loop(model, ("sample", total, loop), make_run, jit_compile)
        tokens, ends = fn(
            ops.convert_to_tensor(ids),
            ops.convert_to_tensor(lengths),
            ops.convert_to_tensor(int(seed), "int32"),
        )
    tokens, ends = ops.convert_to_numpy(tokens), ops.convert_to_numpy(ends)
    return _new_tokens(tokens, ends, lengths, loop)


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
    same tokens. The prompts must already fit: `width + max_new_tokens`
    at most the model's `max_length` (`fit_prompts` says how to get
    there).

    Returns:
        `(sequences, ends)`: int32 `(batch, width + max_new_tokens)`,
        each row's prompt then its new tokens then `pad_id`, and `(batch,)`
        the end of each row's tokens.
    """
    check_int("max_new_tokens", max_new_tokens)
    settings = SamplingSettings(temperature, top_k, top_p, repetition_penalty)
    stops = _check_ids_settings(stop_token_ids, 0, pad_id)
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
    loop = _LoopSettings(max_new_tokens, 1, settings, stops, int(pad_id))

    def make_run(model_ref):
        def run(ids, lengths, seed):
            return _cached_loop(model_ref(), ids, lengths, seed, total, loop)

        return run

    key = ("sample_padded", total, loop)
    fn = compile_loop(model, key, make_run, jit_compile)
    return fn(
        ops.cast(ids, "int32"),
        ops.cast(lengths, "int32"),
        ops.cast(seed, "int32"),
    )


def _new_tokens(sequences, ends, lengths, loop):
    """Each row's generated part, `(batch, max_new_tokens)`, and its
    length."""
    batch = len(sequences)
    new = np.full((batch, loop.max_new_tokens), loop.pad_id, "int32")
    counts = (ends - lengths).astype("int32")
    for row in range(batch):
        new[row, : counts[row]] = sequences[row, lengths[row] : ends[row]]
    return new, counts


def _start(ids, prompt_lengths, loop, vocab):
    """The rows before the loop: the prompts padded to their total
    length, what the prefill has seen, nothing done."""
    batch = ops.shape(ids)[0]
    tokens = ops.pad(
        ids, ((0, 0), (0, loop.max_new_tokens)), constant_values=loop.pad_id
    )
    seen = ops.any(
        ops.cast(ops.one_hot(ids[:, : loop.prefill], vocab), "bool"), axis=1
    )
    return _Rows(
        tokens=tokens,
        seen=seen,
        done=ops.zeros((batch,), "bool"),
        ends=ops.cast(prompt_lengths, "int32"),
    )


def _advance(rows, logits, i, prompt_lengths, seed, loop):
    """Position `i` of every row, from the float32 logits of position
    `i - 1`: the prompt's token while the row is inside its prompt, else
    a drawn one, and `pad_id` once the row has stopped. Shared by the
    cached and uncached loops. Returns `(token, rows)`."""
    vocab = ops.shape(logits)[-1]
    forced = ops.less(i, prompt_lengths)
    drawn = pick_next_token(logits, rows.seen, i, seed, loop.sampling)
    token = ops.where(forced, rows.tokens[:, i], drawn)
    token = ops.where(rows.done, loop.pad_id, token)
    live = ops.logical_not(rows.done)
    # A stopped row's `pad_id` may be no id of the model (PyTorch's
    # one_hot rejects it): it is seen by no row, as `live` says.
    in_vocab = ops.clip(token, 0, vocab - 1)
    new_seen = ops.logical_and(
        ops.cast(ops.one_hot(in_vocab, vocab), "bool"), live[:, None]
    )
    # -1 matches no token: an empty stop list stops nothing.
    stops = ops.convert_to_tensor(list(loop.stop_token_ids) or [-1], "int32")
    is_stop = ops.any(ops.equal(token[:, None], stops[None, :]), axis=-1)
    generated = ops.logical_and(live, ops.logical_not(forced))
    out_of_room = ops.greater_equal(i + 1, prompt_lengths + loop.max_new_tokens)
    done = ops.logical_or(rows.done, ops.logical_and(generated, is_stop))
    return token, _Rows(
        tokens=ops.slice_update(rows.tokens, (0, i), token[:, None]),
        seen=ops.logical_or(rows.seen, new_seen),
        done=ops.logical_or(done, out_of_room),
        ends=ops.where(live, i + 1, rows.ends),
    )


def _cached_loop(model, ids, lengths, seed, total, loop):
    state = model.start_decoding(ops.shape(ids)[0], total)
    logits, state = model.decode_step(state, ids[:, : loop.prefill], 0)
    vocab = ops.shape(logits)[-1]

    def cond(i, logits, rows, state):
        return ops.logical_and(
            ops.less(i, total), ops.logical_not(ops.all(rows.done))
        )

    def body(i, logits, rows, state):
        token, rows = _advance(
            rows, ops.cast(logits, "float32"), i, lengths, seed, loop
        )
        # A finished row holds `pad_id`, maybe no id of the model: feed it
        # a valid one (its output is not used).
        fed = ops.clip(token, 0, vocab - 1)
        logits, state = model.decode_step(state, fed[:, None], i)
        return i + 1, logits, rows, state

    _, _, rows, _ = ops.while_loop(
        cond,
        body,
        (
            ops.convert_to_tensor(loop.prefill, "int32"),
            ops.cast(logits, "float32"),
            _start(ids, lengths, loop, vocab),
            state,
        ),
        maximum_iterations=total - loop.prefill,
    )
    return rows.tokens, rows.ends


def _uncached_loop(model, ids, lengths, seed, loop):
    """The same loop re-running `model` over the whole prefix each step.

    The model sees the rows at their full width, the positions after the
    prefix included: the causal mask keeps them out of the logits read,
    and one shape lets a backend that compiles each op per shape (JAX)
    compile it once."""
    total = ids.shape[1] + loop.max_new_tokens
    seed = ops.convert_to_tensor(int(seed), "int32")
    lengths = ops.convert_to_tensor(lengths)
    vocab = model.vocab_size
    rows = _start(ops.convert_to_tensor(ids), lengths, loop, vocab)
    for i in range(loop.prefill, total):
        fed = ops.clip(rows.tokens, 0, vocab - 1)  # see above
        logits = model(fed, training=False)[:, i - 1]
        position = ops.convert_to_tensor(i, "int32")
        _, rows = _advance(
            rows, ops.cast(logits, "float32"), position, lengths, seed, loop
        )
        if bool(ops.all(rows.done)):
            break
    return rows.tokens, rows.ends


__all__ = ["sample", "sample_padded"]
