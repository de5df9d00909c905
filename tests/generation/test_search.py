"""Decoding: the cached, compiled loops against slow references."""

import numpy as np
import pytest
from keras import ops

from keras_transformer import generation
from keras_transformer.models import Transformer

START, END = 2, 3


def greedy_search(*args, **kwargs):
    """`generation.greedy_search`, its results as NumPy arrays."""
    return tuple(
        map(ops.convert_to_numpy, generation.greedy_search(*args, **kwargs))
    )


def beam_search(*args, **kwargs):
    """`generation.beam_search`, its results as NumPy arrays."""
    return tuple(
        map(ops.convert_to_numpy, generation.beam_search(*args, **kwargs))
    )


def length_normalizer(lengths, length_penalty):
    return ops.convert_to_numpy(
        generation.length_normalizer(lengths, length_penalty)
    )


@pytest.fixture(scope="module")
def model():
    """A model trained a little on reversing digit strings of random
    lengths: it ends its outputs, yet is unsure enough that beam search
    and greedy search differ."""
    import keras

    from keras_transformer.losses import MaskedSparseCategoricalCrossentropy

    keras.utils.set_random_seed(1)
    model = Transformer(
        src_vocab_size=20,
        tgt_vocab_size=12,
        num_layers=2,
        d_model=16,
        num_heads=4,
        d_ff=32,
        dropout_rate=0.0,
        max_length=16,
        norm_first=True,
    )
    rng = np.random.default_rng(0)
    src = np.zeros((256, 10), "int32")
    tgt = np.zeros((256, 11), "int32")
    for row in range(256):
        digits = rng.integers(4, 12, size=rng.integers(1, 8))
        src[row, : len(digits)] = digits
        tgt[row, : len(digits) + 2] = [START, *digits[::-1], END]
    model.compile(
        keras.optimizers.Adam(3e-3), MaskedSparseCategoricalCrossentropy()
    )
    model.fit((src, tgt[:, :-1]), tgt[:, 1:], epochs=4, verbose=0)
    return model


def sources(batch=6, length=8, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 20, size=(batch, length)).astype("int32")
    for row in range(batch):
        ids[row, max(2, length - row) :] = 0
    return ids


def model_score(model, src, tokens):
    """Sum of log-probabilities of `tokens` (up to END) under teacher
    forcing: an independent check of the scores a search reports."""
    tgt_in = np.concatenate(
        [np.full((len(tokens), 1), START, "int32"), tokens[:, :-1]], axis=1
    )
    logits = model((src, tgt_in))
    log_probs = ops.convert_to_numpy(ops.log_softmax(logits, axis=-1))
    picked = np.take_along_axis(log_probs, tokens[..., None], -1)[..., 0]
    ended = np.cumsum(tokens == END, axis=1) - (tokens == END)
    return np.where(ended == 0, picked, 0.0).sum(axis=1)


def test_cached_greedy_equals_uncached_greedy(model):
    src = sources()
    cached, cached_scores = greedy_search(model, src, 10, START, END)
    full, full_scores = greedy_search(
        model, src, 10, START, END, use_cache=False
    )
    np.testing.assert_array_equal(cached, full)
    np.testing.assert_allclose(cached_scores, full_scores, atol=1e-4)


def test_greedy_scores_are_the_model_scores(model):
    src = sources()
    tokens, scores = greedy_search(model, src, 10, START, END)
    # Some rows end and are padded after END; the rest run to max_length.
    assert (tokens == END).any()
    np.testing.assert_allclose(
        scores, model_score(model, src, tokens), atol=1e-4
    )


def test_greedy_without_xla_gives_the_same_tokens(model):
    src = sources()
    xla, _ = greedy_search(model, src, 10, START, END)
    plain, _ = greedy_search(model, src, 10, START, END, jit_compile=False)
    np.testing.assert_array_equal(xla, plain)


def test_beam_size_one_is_greedy(model):
    src = sources()
    greedy, greedy_scores = greedy_search(model, src, 10, START, END)
    beam, beam_scores = beam_search(
        model, src, 10, START, END, beam_size=1, length_penalty=0.0
    )
    np.testing.assert_array_equal(beam, greedy)
    np.testing.assert_allclose(beam_scores, greedy_scores, atol=1e-4)


def test_beam_search_never_scores_below_greedy(model):
    src = sources(batch=12, seed=3)
    _, greedy_scores = greedy_search(model, src, 12, START, END)
    tokens, scores = beam_search(
        model, src, 12, START, END, beam_size=4, length_penalty=0.0
    )
    assert np.all(scores >= greedy_scores - 1e-4)
    # The search finds better hypotheses for some rows, and reports
    # their true model scores.
    assert np.any(scores > greedy_scores + 1e-3)
    np.testing.assert_allclose(
        scores, model_score(model, src, tokens), atol=1e-4
    )


def test_all_beams_are_sorted_and_distinct(model):
    src = sources()
    tokens, scores = beam_search(
        model, src, 10, START, END, beam_size=3, return_all_beams=True
    )
    assert tokens.shape == (6, 3, 10) and scores.shape == (6, 3)
    lengths = np.argmax(tokens == END, axis=-1) + 1
    lengths = np.where((tokens == END).any(-1), lengths, 10)
    normalized = scores / length_normalizer(lengths, 0.6)
    assert np.all(np.diff(normalized, axis=1) <= 1e-5)
    for row in tokens:
        assert len({tuple(beam) for beam in row}) == 3


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_batch_decoding_equals_one_by_one(model, search):
    src = sources()

    def decode(x):
        if search == "greedy":
            return greedy_search(model, x, 10, START, END)
        return beam_search(model, x, 10, START, END, beam_size=3)

    tokens, scores = decode(src)
    for row in range(len(src)):
        # Each source alone, without the padding its batch needed.
        length = int((src[row] != 0).sum())
        alone, alone_score = decode(src[row : row + 1, :length])
        np.testing.assert_array_equal(alone[0], tokens[row])
        np.testing.assert_allclose(alone_score[0], scores[row], atol=1e-4)


class EndsAt:
    """The trained model, with `[END]` impossible before a known step and
    near certain at it: source row `r` ends at step `2 + r % 4`, so rows
    finish at different steps and the loop goes on for the others."""

    def __init__(self, model):
        self.model = model
        self.max_length = model.max_length
        self.tgt_vocab_size = model.tgt_vocab_size

    def start_decoding(self, inputs, max_length):
        state = self.model.start_decoding(inputs, max_length)
        rows = ops.arange(ops.shape(inputs)[0], dtype="int32")
        state["end_step"] = 2 + rows % 4
        return state

    def decode_step(self, state, token_ids, index):
        logits, new_state = self.model.decode_step(state, token_ids, index)
        end = ops.equal(ops.arange(ops.shape(logits)[-1]), END)[None, :]
        now = ops.equal(state["end_step"], index)[:, None]
        logits = ops.where(end, ops.where(now, 1e4, -1e4), logits)
        return logits, new_state

    def beam_state_keys(self):
        return self.model.beam_state_keys()


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_tokens_after_end_are_padding(model, search):
    src = sources()
    ending = EndsAt(model)
    if search == "greedy":
        tokens, _ = greedy_search(ending, src, 10, START, END, pad_id=0)
    else:
        tokens, _ = beam_search(ending, src, 10, START, END, pad_id=0)
    for row, out in enumerate(tokens):
        ends = np.flatnonzero(out == END)
        assert len(ends) and ends[0] == 2 + row % 4, (row, out)
        assert np.all(out[ends[0] + 1 :] == 0), (row, out)


class Renamed:
    """The trained model under other state names: beam search may only
    learn which entries follow a hypothesis from `beam_state_keys()`."""

    def __init__(self, model, declare="own"):
        self.model = model
        self.max_length = model.max_length
        self.tgt_vocab_size = model.tgt_vocab_size
        if declare == "own":
            self.beam_state_keys = lambda: tuple(
                f"prefix/{k}" for k in model.beam_state_keys()
            )
        elif declare is not None:
            self.beam_state_keys = lambda: declare

    def start_decoding(self, inputs, max_length):
        state = self.model.start_decoding(inputs, max_length)
        return {f"prefix/{k}": t for k, t in state.items()}

    def decode_step(self, state, token_ids, index):
        inner = {k[len("prefix/") :]: t for k, t in state.items()}
        logits, inner = self.model.decode_step(inner, token_ids, index)
        return logits, {f"prefix/{k}": t for k, t in inner.items()}


def test_beam_search_reorders_the_state_entries_the_model_declares(model):
    src = sources(batch=12, seed=3)
    search = dict(beam_size=4, return_all_beams=True)
    tokens, scores = beam_search(model, src, 12, START, END, **search)
    for declare in ("own", None):  # None: every entry is reordered
        other, other_scores = beam_search(
            Renamed(model, declare), src, 12, START, END, **search
        )
        np.testing.assert_array_equal(other, tokens)
        np.testing.assert_allclose(other_scores, scores, atol=1e-4)
    # Declaring nothing to reorder gives other (wrong) results: the
    # reordering matters here, so the comparisons above test it.
    wrong, _ = beam_search(Renamed(model, ()), src, 12, START, END, **search)
    assert not np.array_equal(wrong, tokens)
    with pytest.raises(ValueError, match=r"does not have: \['cache_0'\]"):
        beam_search(Renamed(model, ("cache_0",)), src, 12, START, END)


def test_models_declare_their_self_attention_caches(model):
    state = model.start_decoding(sources(), 10)
    keys = model.beam_state_keys()
    assert set(keys) < set(state)
    assert len(keys) == model.num_decoder_layers
    # The rest depends on the source only: it is the same for any target.
    _, stepped = model.decode_step(state, np.full((6, 1), START, "int32"), 0)
    state, stepped = (
        {k: ops.convert_to_numpy(t) for k, t in s.items()}
        for s in (state, stepped)
    )
    for name in set(state) - set(keys):
        np.testing.assert_array_equal(stepped[name], state[name])
    for name in keys:
        assert not np.array_equal(stepped[name], state[name])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_length=0), "max_length"),
        (dict(max_length=17), "max_length"),
        (dict(beam_size=0), "beam_size"),
        (dict(length_penalty=-1.0), "length_penalty"),
    ],
)
def test_bad_arguments_get_a_clear_error(model, kwargs, message):
    arguments = dict(max_length=5, beam_size=2, length_penalty=0.6)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        beam_search(model, sources(), start_id=START, end_id=END, **arguments)


def test_compiled_searches_do_not_keep_a_model_alive():
    import gc
    import weakref

    small = Transformer(
        src_vocab_size=10,
        tgt_vocab_size=10,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=8,
        max_length=4,
    )
    greedy_search(small, sources(2, 3) % 10, 3, START, END)
    ref = weakref.ref(small)
    del small
    gc.collect()
    assert ref() is None
