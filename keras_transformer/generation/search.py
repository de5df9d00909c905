"""Greedy and beam search over a key/value-cached decoder.

A decoder here is any model with two methods:

- `start_decoding(inputs, max_length) -> state`: runs whatever is done once
  per input (the encoder and the cross-attention keys/values of a
  `Transformer`) and returns a flat dict of tensors whose first axis is
  the batch, holding an empty self-attention cache of `max_length` tokens;
- `decode_step(state, token_ids, index) -> (logits, state)`: feeds one
  token per row `(batch, 1)` at position `index` and returns the float32
  next-token logits `(batch, vocab)` and the state with the cache written.

Each new token therefore costs one position of work per layer instead of
a re-run of the whole prefix. The loop is written in `keras.ops`; on
TensorFlow it is compiled once per model and setting (`tf.function`, with
XLA by default), on other backends it runs eagerly.
"""

import numbers
import weakref

import keras
from keras import ops

NEG_INF = -1e9

_compiled = weakref.WeakKeyDictionary()


def _compile(model, key, make_fn, jit_compile):
    """`make_fn(model_ref)` compiled as one graph, kept per model.

    The function reaches the model through a weak reference, so that the
    cache entry does not keep the model alive: it goes with the model.
    Only TensorFlow compiles here (`tf.function`, XLA when `jit_compile`);
    other backends run the loop eagerly.
    """
    functions = _compiled.setdefault(model, {})
    key = key + (jit_compile,)
    if key not in functions:
        fn = make_fn(weakref.ref(model))
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            fn = tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)
        functions[key] = fn
    return functions[key]


def _check(name, value, low=1):
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < low
    ):
        raise ValueError(
            f"`{name}` must be an int >= {low}. Received: {name}={value!r}"
        )


def _check_length_penalty(length_penalty):
    if (
        not isinstance(length_penalty, numbers.Real)
        or isinstance(length_penalty, bool)
        or not 0 <= length_penalty < float("inf")
    ):
        raise ValueError(
            "`length_penalty` must be a number >= 0. "
            f"Received: length_penalty={length_penalty!r}"
        )


def _check_token(name, value, vocab_size=None):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(
            f"`{name}` must be an int token id. Received: {name}={value!r}"
        )
    if vocab_size is not None and not 0 <= value < vocab_size:
        raise ValueError(
            f"`{name}` must be in [0, {vocab_size}) (the model's target "
            f"vocabulary). Received: {name}={value}"
        )


def _check_search(model, inputs, max_length, start_id, end_id, pad_id):
    """Checks what a search is given before anything is compiled: the
    settings, and the source ids when their values are known (a traced
    caller, such as `Translator`'s graph, checks its own)."""
    from keras_transformer import _backend
    from keras_transformer.layers import _validation

    _check("max_length", max_length)
    limit = getattr(model, "max_length", None)
    if limit is not None and max_length > limit:
        raise ValueError(
            f"`max_length` must be at most the model's max_length={limit}. "
            f"Received: max_length={max_length}"
        )
    vocab = getattr(model, "tgt_vocab_size", None)
    _check_token("start_id", start_id, vocab)
    _check_token("end_id", end_id)  # may be outside: then no row ends
    _check_token("pad_id", pad_id)
    problem = _validation.dtype_problem(
        "inputs", getattr(inputs, "dtype", "int32"), "ids"
    )
    values = _backend.concrete(inputs)
    if values is None:
        if problem is not None:
            raise ValueError(problem)
        return
    if values.ndim != 2:
        raise ValueError(
            "`inputs` must be source ids (batch, length). "
            f"Received: inputs.shape={values.shape}"
        )
    if limit is not None and values.shape[1] > limit:
        raise ValueError(
            f"`inputs` is longer than the model's max_length={limit}. "
            f"Received: inputs.shape={values.shape}"
        )
    src_vocab = getattr(model, "src_vocab_size", None)
    if src_vocab is not None:
        _validation.check_values(
            "inputs",
            values,
            "ids",
            ("src_vocab_size", src_vocab),
            allow_empty=False,
        )


def _batch_size(inputs):
    shape = ops.shape(inputs)
    if len(shape) < 1:
        raise ValueError(
            "`inputs` must have a batch axis. Received a scalar input."
        )
    return shape[0]


def greedy_search(
    model,
    inputs,
    max_length,
    start_id,
    end_id,
    pad_id=0,
    use_cache=True,
    jit_compile=True,
):
    """Picks the most likely next token at every step.

    Args:
        model: a decoder (see the module docstring); a
            `keras_transformer.models.Transformer` for translation.
        inputs: what `model.start_decoding` takes: source ids
            `(batch, src_len)` for a `Transformer`.
        max_length: int. Most tokens generated per row, `[END]` included.
        start_id: int. The token the decoder starts from.
        end_id: int. Stops a row; later positions are `pad_id`.
        pad_id: int. Fills a row after its end.
        use_cache: bool. `False` re-runs the decoder over the whole prefix
            at every step (slow, eager; a reference for tests).
        jit_compile: bool. Compile the cached loop with XLA.

    Raises:
        ValueError: before anything is compiled, for settings out of range
            (`max_length` above the model's, `start_id` outside the target
            vocabulary) and for source ids that are not integers, are
            empty, too long or outside `[0, src_vocab_size)`.

    Returns:
        `(tokens, scores)`: int32 `(batch, max_length)` generated tokens
        (the start token not included) and float32 `(batch,)` sums of
        the log-probabilities of the tokens up to and including `[END]`.
    """
    _check_search(model, inputs, max_length, start_id, end_id, pad_id)
    if not use_cache:
        return _greedy_uncached(
            model, inputs, max_length, start_id, end_id, pad_id
        )

    def make_run(model_ref):
        def run(inputs):
            return _greedy_loop(
                model_ref(), inputs, max_length, start_id, end_id, pad_id
            )

        return run

    fn = _compile(
        model,
        ("greedy", max_length, start_id, end_id, pad_id),
        make_run,
        jit_compile,
    )
    return fn(ops.convert_to_tensor(inputs))


def _greedy_loop(model, inputs, max_length, start_id, end_id, pad_id):
    """The cached greedy loop (see `greedy_search`)."""
    state = model.start_decoding(inputs, max_length)
    batch = _batch_size(inputs)
    tokens = ops.full((batch, max_length), pad_id, dtype="int32")
    last = ops.full((batch, 1), start_id, dtype="int32")
    done = ops.zeros((batch,), dtype="bool")
    scores = ops.zeros((batch,), dtype="float32")

    def cond(i, tokens, last, done, scores, state):
        return ops.logical_and(
            ops.less(i, max_length), ops.logical_not(ops.all(done))
        )

    def body(i, tokens, last, done, scores, state):
        logits, state = model.decode_step(state, last, i)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        best = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
        gained = ops.max(log_probs, axis=-1)
        scores = scores + ops.where(done, 0.0, gained)
        best = ops.where(done, pad_id, best)
        tokens = ops.slice_update(tokens, (0, i), best[:, None])
        done = ops.logical_or(done, ops.equal(best, end_id))
        return i + 1, tokens, best[:, None], done, scores, state

    loop = ops.while_loop(
        cond,
        body,
        (
            ops.convert_to_tensor(0, "int32"),
            tokens,
            last,
            done,
            scores,
            state,
        ),
        maximum_iterations=max_length,
    )
    return loop[1], loop[4]


def _greedy_uncached(model, inputs, max_length, start_id, end_id, pad_id):
    """Greedy decoding that re-runs the decoder over the prefix each step."""
    import numpy as np

    context, padding = model.encode(inputs, training=False)
    batch = int(ops.shape(context)[0])
    prefix = np.full((batch, 1), start_id, "int32")
    tokens = np.full((batch, max_length), pad_id, "int32")
    scores = np.zeros((batch,), "float32")
    done = np.zeros((batch,), bool)
    for i in range(max_length):
        logits = model.decode(prefix, context, padding, training=False)
        log_probs = ops.convert_to_numpy(
            ops.log_softmax(ops.cast(logits[:, -1], "float32"), axis=-1)
        )
        best = log_probs.argmax(-1).astype("int32")
        scores += np.where(done, 0.0, log_probs.max(-1))
        best = np.where(done, pad_id, best)
        tokens[:, i] = best
        done |= best == end_id
        if done.all():
            break
        prefix = np.concatenate([prefix, best[:, None]], axis=1)
    return ops.convert_to_tensor(tokens), ops.convert_to_tensor(scores)


def length_normalizer(lengths, length_penalty):
    """GNMT's length penalty `((5 + length) / 6) ** alpha` (Wu et al.,
    2016): beam hypotheses are compared by `score / normalizer`, so that
    longer translations are not punished for having more terms."""
    lengths = ops.cast(lengths, "float32")
    return ops.power((5.0 + lengths) / 6.0, length_penalty)


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
    `beam_size` best by total log-probability survive (their caches are
    reordered to follow them). A hypothesis that emitted `end_id` is
    finished: it keeps its score and extends only with padding, at no
    cost. The loop stops when every hypothesis is finished or after
    `max_length` tokens; the returned one maximizes
    `score / length_normalizer(length, length_penalty)`.

    Args:
        model: a decoder (see the module docstring).
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
        jit_compile: bool. Compile the loop with XLA.

    Returns:
        `(tokens, scores)`: int32 `(batch, max_length)` and float32
        `(batch,)` raw log-probabilities of the chosen hypotheses; with
        `return_all_beams`, `(batch, beam_size, max_length)` and
        `(batch, beam_size)` sorted by normalized score.
    """
    _check("beam_size", beam_size)
    _check_length_penalty(length_penalty)
    _check_search(model, inputs, max_length, start_id, end_id, pad_id)
    k = beam_size

    def make_run(model_ref):
        def run(inputs):
            return _beam_loop(
                model_ref(),
                inputs,
                max_length,
                start_id,
                end_id,
                k,
                length_penalty,
                pad_id,
                return_all_beams,
            )

        return run

    key = (
        "beam",
        max_length,
        k,
        float(length_penalty),
        start_id,
        end_id,
        pad_id,
        return_all_beams,
    )
    fn = _compile(model, key, make_run, jit_compile)
    return fn(ops.convert_to_tensor(inputs))


def _beam_loop(
    model,
    inputs,
    max_length,
    start_id,
    end_id,
    k,
    length_penalty,
    pad_id,
    return_all_beams,
):
    """The cached beam-search loop (see `beam_search`)."""
    state = model.start_decoding(inputs, max_length)
    batch = _batch_size(inputs)
    # Each row's state is tiled over its beams; the encoder ran once.
    state = {name: ops.repeat(t, k, axis=0) for name, t in state.items()}
    tokens = ops.full((batch * k, max_length), pad_id, dtype="int32")
    last = ops.full((batch * k, 1), start_id, dtype="int32")
    # Only the first beam is alive at first, or all beams would
    # pick the same tokens.
    scores = ops.tile(
        ops.convert_to_tensor([[0.0] + [NEG_INF] * (k - 1)], "float32"),
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
        pad_only = ops.where(
            ops.equal(ops.arange(vocab, dtype="int32"), pad_id),
            0.0,
            NEG_INF,
        )
        log_probs = ops.where(done[..., None], pad_only, log_probs)
        candidates = ops.reshape(scores[..., None] + log_probs, (batch, -1))
        scores, index = ops.top_k(candidates, k)
        index = ops.cast(index, "int32")
        beam, token = index // vocab, index % vocab
        source = ops.reshape(beam + row_offset, (-1,))
        tokens = ops.take(tokens, source, axis=0)
        done = ops.reshape(
            ops.take(ops.reshape(done, (-1,)), source), (batch, k)
        )
        lengths = ops.reshape(
            ops.take(ops.reshape(lengths, (-1,)), source), (batch, k)
        )
        state = {
            name: ops.take(t, source, axis=0)
            if name.startswith("self_cache")
            else t
            for name, t in state.items()
        }
        token = ops.where(done, pad_id, token)
        tokens = ops.slice_update(tokens, (0, i), ops.reshape(token, (-1, 1)))
        lengths = lengths + ops.cast(ops.logical_not(done), "int32")
        done = ops.logical_or(done, ops.equal(token, end_id))
        return (
            i + 1,
            tokens,
            ops.reshape(token, (-1, 1)),
            scores,
            done,
            lengths,
            state,
        )

    loop = ops.while_loop(
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
    tokens, scores, lengths = loop[1], loop[3], loop[5]
    tokens = ops.reshape(tokens, (batch, k, max_length))
    normalized = scores / length_normalizer(lengths, length_penalty)
    order = ops.cast(ops.argsort(-normalized, axis=-1), "int32")
    tokens = ops.take_along_axis(tokens, order[..., None], axis=1)
    scores = ops.take_along_axis(scores, order, axis=1)
    if return_all_beams:
        return tokens, scores
    return tokens[:, 0], scores[:, 0]
