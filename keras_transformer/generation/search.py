"""Greedy search over a key/value-cached decoder.

A decoder here is any model with these methods:

- `start_decoding(inputs, max_length) -> state`: runs whatever is done once
  per input (the encoder and the cross-attention keys/values of a
  `Transformer`) and returns a flat dict of tensors whose first axis is
  the batch, holding an empty self-attention cache of `max_length` tokens;
- `decode_step(state, token_ids, index) -> (logits, state)`: feeds one
  token per row `(batch, 1)` at position `index` and returns the float32
  next-token logits `(batch, vocab)` and the state with the cache written;
- optionally, for beam search, `beam_state_keys() -> names`: the entries
  of the state that belong to one hypothesis (the self-attention caches,
  written by the tokens decoded so far), which beam search reorders with
  its beams (see `keras_transformer.generation.beam`).

Each new token therefore costs one position of work per layer instead of
a re-run of the whole prefix. The loop is written in `keras.ops` and
compiled once per model and setting, in one place
(`_common.compile_loop`): `tf.function` on TensorFlow and `jax.jit` on
JAX (XLA both, by default); PyTorch runs it eagerly, which measured
faster than `torch.compile`.
"""

from keras import ops

from keras_transformer.generation._common import batch_size
from keras_transformer.generation._common import check_search
from keras_transformer.generation._common import compile_loop


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
        jit_compile: bool. Compile the cached loop with XLA (TensorFlow,
            JAX); PyTorch runs it eagerly either way.

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
    check_search(model, inputs, max_length, start_id, end_id, pad_id)
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

    fn = compile_loop(
        model,
        ("greedy", max_length, start_id, end_id, pad_id),
        make_run,
        jit_compile,
    )
    return fn(ops.convert_to_tensor(inputs))


def _greedy_loop(model, inputs, max_length, start_id, end_id, pad_id):
    """The cached greedy loop (see `greedy_search`)."""
    state = model.start_decoding(inputs, max_length)
    batch = batch_size(inputs)
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

    _, tokens, _, _, scores, _ = ops.while_loop(
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
    return tokens, scores


def _greedy_uncached(model, inputs, max_length, start_id, end_id, pad_id):
    """Greedy decoding that re-runs the decoder over the prefix each step.

    The decoder sees `max_length` positions at every step, those after
    the prefix included: the causal mask keeps them out of the logits
    read, and one shape lets a backend that compiles each op per shape
    (JAX) compile it once."""
    import numpy as np

    context, padding = model.encode(inputs, training=False)
    batch = int(ops.shape(context)[0])
    fed = np.full((batch, max_length), start_id, "int32")
    tokens = np.full((batch, max_length), pad_id, "int32")
    scores = np.zeros((batch,), "float32")
    done = np.zeros((batch,), bool)
    for i in range(max_length):
        logits = model.decode(fed, context, padding, training=False)
        log_probs = ops.convert_to_numpy(
            ops.log_softmax(ops.cast(logits[:, i], "float32"), axis=-1)
        )
        best = log_probs.argmax(-1).astype("int32")
        scores += np.where(done, 0.0, log_probs.max(-1))
        best = np.where(done, pad_id, best)
        tokens[:, i] = best
        done |= best == end_id
        if done.all() or i + 1 == max_length:
            break
        # A finished row's `pad_id` may be no target id: feed the start
        # token instead (that row's logits are not read).
        fed[:, i + 1] = np.where(done, start_id, best)
    return ops.convert_to_tensor(tokens), ops.convert_to_tensor(scores)


__all__ = ["greedy_search"]
