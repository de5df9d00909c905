"""Beam search over a key/value-cached decoder (see
`keras_transformer.generation.search` for what a decoder is).

Beam search keeps `beam_size` hypotheses per row, as rows of one batch,
and at every step reorders them: a surviving hypothesis may continue any
parent of its row. Its decoding state must follow: the entries written by
the tokens of its prefix (the self-attention caches) are gathered with
the parents' row numbers. The model names these entries in
`beam_state_keys()`; the others (the encoder's keys and values, the
source mask) are the same for all the beams of a row and stay in place.
A decoder that does not declare them has every entry gathered, which is
always right, only slower.
"""

import dataclasses

from keras import ops

from keras_transformer.generation._common import MASKED
from keras_transformer.generation._common import batch_size
from keras_transformer.generation._common import check_int
from keras_transformer.generation._common import check_length_penalty
from keras_transformer.generation._common import check_search
from keras_transformer.generation._common import compile_loop


def length_normalizer(lengths, length_penalty):
    """GNMT's length penalty `((5 + length) / 6) ** alpha` (Wu et al.,
    2016): beam hypotheses are compared by `score / normalizer`, so that
    longer translations are not punished for having more terms."""
    lengths = ops.cast(lengths, "float32")
    return ops.power((5.0 + lengths) / 6.0, length_penalty)


@dataclasses.dataclass(frozen=True)
class _BeamSettings:
    """What a compiled beam-search loop is made for (see `beam_search`)."""

    max_length: int
    start_id: int
    end_id: int
    beam_size: int
    length_penalty: float
    pad_id: int
    return_all_beams: bool


def beam_search(
    model,
    inputs,
    max_length,
    start_id,
    end_id,
    beam_size=4,
    length_penalty=0.6,
    pad_id=0,
    return_all_beams=False,
    jit_compile=True,
):
    """Keeps the `beam_size` most likely prefixes per row at every step.

    At each step every live hypothesis is extended by every token; the
    `beam_size` best by total log-probability survive (the state entries
    the model names in `beam_state_keys()`, its self-attention caches,
    are reordered to follow them). A hypothesis that emitted `end_id` is
    finished: it keeps its score and extends only with padding, at no
    cost. The loop stops when every hypothesis is finished or after
    `max_length` tokens; the returned one maximizes
    `score / length_normalizer(length, length_penalty)`.

    Args:
        model: a decoder (see `keras_transformer.generation.search`).
        inputs: what `model.start_decoding` takes; the encoder runs once
            per row, and its keys/values are shared by the row's beams.
        max_length: int. Most tokens generated, `[END]` included.
        start_id: int. The token every output starts from, as in
            `greedy_search`.
        end_id: int. The token that finishes a hypothesis.
        beam_size: int. Hypotheses kept per row; 1 is greedy search.
        length_penalty: float `alpha` >= 0; 0 compares raw scores.
        pad_id: int. Written after a hypothesis has finished.
        return_all_beams: bool. Return every beam, best first.
        jit_compile: bool. Compile the loop with XLA (TensorFlow, JAX);
            PyTorch runs it eagerly either way.

    Raises:
        ValueError: for the settings `greedy_search` checks, a
            `beam_size` below 1, a negative `length_penalty`, and a
            `beam_state_keys()` naming entries the state does not have.

    Returns:
        `(tokens, scores)`: int32 `(batch, max_length)` and float32
        `(batch,)` raw log-probabilities of the chosen hypotheses; with
        `return_all_beams`, `(batch, beam_size, max_length)` and
        `(batch, beam_size)` sorted by normalized score.
    """
    check_int("beam_size", beam_size)
    check_length_penalty(length_penalty)
    check_search(model, inputs, max_length, start_id, end_id, pad_id)
    settings = _BeamSettings(
        max_length=int(max_length),
        start_id=int(start_id),
        end_id=int(end_id),
        beam_size=int(beam_size),
        length_penalty=float(length_penalty),
        pad_id=int(pad_id),
        return_all_beams=bool(return_all_beams),
    )

    def make_run(model_ref):
        def run(inputs):
            return _beam_loop(model_ref(), inputs, settings)

        return run

    fn = compile_loop(model, ("beam", settings), make_run, jit_compile)
    return fn(ops.convert_to_tensor(inputs))


def _followed_keys(model, state):
    """The entries of `state` that follow a hypothesis: those the model
    names in `beam_state_keys()`, else all of them."""
    declared = getattr(model, "beam_state_keys", None)
    if declared is None:
        return tuple(state)
    keys = tuple(declared())
    unknown = sorted(set(keys) - set(state))
    if unknown:
        raise ValueError(
            f"`{type(model).__name__}.beam_state_keys()` names entries the "
            f"decoding state does not have: {unknown}. The state has "
            f"{sorted(state)}"
        )
    return keys


def _beam_loop(model, inputs, settings):
    """The cached beam-search loop (see `beam_search`)."""
    k, pad_id = settings.beam_size, settings.pad_id
    max_length = settings.max_length
    state = model.start_decoding(inputs, max_length)
    follow = _followed_keys(model, state)
    batch = batch_size(inputs)
    # Each row's state is tiled over its beams; the encoder ran once.
    state = {name: ops.repeat(t, k, axis=0) for name, t in state.items()}
    tokens = ops.full((batch * k, max_length), pad_id, dtype="int32")
    last = ops.full((batch * k, 1), settings.start_id, dtype="int32")
    # Only the first beam is alive at first, or all beams would
    # pick the same tokens.
    scores = ops.tile(
        ops.convert_to_tensor([[0.0] + [MASKED] * (k - 1)], "float32"),
        (batch, 1),
    )
    done = ops.zeros((batch, k), dtype="bool")
    lengths = ops.zeros((batch, k), dtype="int32")
    row_offset = ops.arange(batch, dtype="int32")[:, None] * k

    def cond(i, tokens, last, scores, done, lengths, state):
        return ops.logical_and(
            ops.less(i, max_length), ops.logical_not(ops.all(done))
        )

    def body(i, tokens, last, scores, done, lengths, state):
        logits, state = model.decode_step(state, last, i)
        vocab = ops.shape(logits)[-1]
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        log_probs = ops.reshape(log_probs, (batch, k, vocab))
        # A finished hypothesis extends only with padding, at no cost.
        pad_only = ops.where(
            ops.equal(ops.arange(vocab, dtype="int32"), pad_id), 0.0, MASKED
        )
        log_probs = ops.where(done[..., None], pad_only, log_probs)
        candidates = ops.reshape(scores[..., None] + log_probs, (batch, -1))
        scores, index = ops.top_k(candidates, k)
        index = ops.cast(index, "int32")
        beam, token = index // vocab, index % vocab
        # Row numbers of the parents in the (batch * k) layout.
        source = ops.reshape(beam + row_offset, (-1,))

        def follow_parents(t):
            return ops.take(t, source, axis=0)

        tokens = follow_parents(tokens)
        done = ops.reshape(follow_parents(ops.reshape(done, (-1,))), (batch, k))
        lengths = ops.reshape(
            follow_parents(ops.reshape(lengths, (-1,))), (batch, k)
        )
        state = {
            name: follow_parents(t) if name in follow else t
            for name, t in state.items()
        }
        token = ops.where(done, pad_id, token)
        tokens = ops.slice_update(tokens, (0, i), ops.reshape(token, (-1, 1)))
        lengths = lengths + ops.cast(ops.logical_not(done), "int32")
        done = ops.logical_or(done, ops.equal(token, settings.end_id))
        last = ops.reshape(token, (-1, 1))
        return i + 1, tokens, last, scores, done, lengths, state

    _, tokens, _, scores, _, lengths, _ = ops.while_loop(
        cond,
        body,
        (
            ops.convert_to_tensor(0, "int32"),
            tokens,
            last,
            scores,
            done,
            lengths,
            state,
        ),
        maximum_iterations=max_length,
    )
    tokens = ops.reshape(tokens, (batch, k, max_length))
    normalized = scores / length_normalizer(lengths, settings.length_penalty)
    order = ops.cast(ops.argsort(-normalized, axis=-1), "int32")
    tokens = ops.take_along_axis(tokens, order[..., None], axis=1)
    scores = ops.take_along_axis(scores, order, axis=1)
    if settings.return_all_beams:
        return tokens, scores
    return tokens[:, 0], scores[:, 0]


__all__ = ["beam_search", "length_normalizer"]
