import numpy as np
import pytest
from keras import ops

from keras_transformer.generation import apply_repetition_penalty
from keras_transformer.generation import sample
from keras_transformer.generation import top_k_filter
from keras_transformer.generation import top_p_filter
from keras_transformer.models import GPT
from tests.generation._reference import FixedLogits

PROMPTS = [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10, 11]]


@pytest.fixture(scope="module")
def model():
    return GPT(
        vocab_size=23,
        max_length=32,
        num_layers=2,
        d_model=16,
        num_heads=4,
        d_ff=32,
        dropout_rate=0.0,
    )


SETTINGS = [
    dict(temperature=0.0),
    dict(temperature=0.8, seed=1),
    dict(temperature=1.0, top_k=4, seed=2),
    dict(temperature=1.0, top_p=0.9, seed=3),
    dict(temperature=0.7, top_k=8, top_p=0.8, repetition_penalty=1.3, seed=4),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_cached_equals_uncached(model, settings):
    cached = sample(model, PROMPTS, 7, **settings)
    uncached = sample(model, PROMPTS, 7, use_cache=False, **settings)
    np.testing.assert_array_equal(cached[0], uncached[0])
    np.testing.assert_array_equal(cached[1], uncached[1])


@pytest.mark.parametrize(
    "settings",
    [dict(temperature=0.0), dict(temperature=0.0, repetition_penalty=2.0)],
)
def test_a_batch_of_unequal_prompts_equals_each_prompt_alone(model, settings):
    tokens, lengths = sample(model, PROMPTS, 6, **settings)
    for row, prompt in enumerate(PROMPTS):
        alone, n = sample(model, [prompt], 6, **settings)
        np.testing.assert_array_equal(alone[0], tokens[row])
        assert n[0] == lengths[row] == 6


def test_padded_array_with_lengths_equals_a_list_of_prompts(model):
    ids = np.zeros((len(PROMPTS), 5), "int32")
    for row, prompt in enumerate(PROMPTS):
        ids[row, : len(prompt)] = prompt
    lengths = [len(p) for p in PROMPTS]
    from_array = sample(model, ids, 5, prompt_lengths=lengths, seed=7)
    from_list = sample(model, PROMPTS, 5, seed=7)
    np.testing.assert_array_equal(from_array[0], from_list[0])


def test_top_k_1_is_greedy(model):
    greedy = sample(model, PROMPTS, 8, temperature=0.0)[0]
    for seed in (0, 1):
        top1 = sample(model, PROMPTS, 8, temperature=1.5, top_k=1, seed=seed)
        np.testing.assert_array_equal(top1[0], greedy)


def test_the_same_seed_gives_the_same_tokens(model):
    a = sample(model, PROMPTS, 10, temperature=1.0, seed=5)[0]
    b = sample(model, PROMPTS, 10, temperature=1.0, seed=5)[0]
    c = sample(model, PROMPTS, 10, temperature=1.0, seed=6)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = np.array([[0.05, 0.5, 0.15, 0.3]])
    logits = ops.convert_to_tensor(np.log(probs), "float32")
    for p, kept in [
        (0.4, [1]),
        (0.75, [1, 3]),
        (0.85, [1, 2, 3]),
        (1.0, [0, 1, 2, 3]),
    ]:
        out = ops.convert_to_numpy(top_p_filter(logits, p))[0]
        assert np.flatnonzero(out > -1e8).tolist() == kept, p
        np.testing.assert_allclose(out[kept], np.log(probs[0, kept]), rtol=1e-6)


def test_top_k_and_repetition_penalty_on_hand_made_logits():
    logits = ops.convert_to_tensor([[1.0, 4.0, -2.0, 3.0, 0.5]])
    out = ops.convert_to_numpy(top_k_filter(logits, 2))[0]
    assert np.flatnonzero(out > -1e8).tolist() == [1, 3]
    seen = ops.convert_to_tensor([[False, True, True, False, False]])
    out = ops.convert_to_numpy(apply_repetition_penalty(logits, seen, 2.0))[0]
    np.testing.assert_allclose(out, [1.0, 2.0, -4.0, 3.0, 0.5])


@pytest.mark.parametrize(
    "settings, expected",
    [
        (dict(), [0.05, 0.5, 0.15, 0.3]),
        (dict(top_p=0.75), [0.0, 0.5 / 0.8, 0.0, 0.3 / 0.8]),
        (dict(top_k=3), [0.0, 0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]),
        (dict(temperature=0.5), np.array([0.05, 0.5, 0.15, 0.3]) ** 2 / 0.365),
    ],
)
def test_draws_follow_the_filtered_distribution(settings, expected):
    """4,000 rows draw one token each: the frequencies match the
    distribution after temperature and filtering (binomial standard
    deviation at most 0.008)."""
    fixed = FixedLogits(np.log([0.05, 0.5, 0.15, 0.3]))
    tokens, _ = sample(fixed, [[0]] * 4000, 1, seed=11, **settings)
    freq = np.bincount(tokens[:, 0], minlength=4) / 4000
    np.testing.assert_allclose(freq, expected, atol=0.035)


def test_rows_stop_at_their_own_stop_token(model):
    free, _ = sample(model, PROMPTS, 8, temperature=0.0)
    stop = int(free[0, 2])  # row 0's third new token
    tokens, lengths = sample(
        model, PROMPTS, 8, temperature=0.0, stop_token_ids=[stop]
    )
    for row in range(len(PROMPTS)):
        hits = np.flatnonzero(free[row] == stop)
        n = hits[0] + 1 if hits.size else 8
        assert lengths[row] == n
        np.testing.assert_array_equal(tokens[row, :n], free[row, :n])
        assert np.all(tokens[row, n:] == 0)
    assert lengths[0] <= 3


def test_a_stop_token_inside_the_prompt_does_not_stop(model):
    prompt = [[3, 5, 3, 7, 12, 19]]
    free, _ = sample(model, prompt, 4, temperature=0.0)
    in_prompt_only = sorted(set(prompt[0]) - set(free[0].tolist()))
    assert in_prompt_only  # the test needs such a token
    tokens, lengths = sample(
        model, prompt, 4, temperature=0.0, stop_token_ids=in_prompt_only
    )
    np.testing.assert_array_equal(tokens, free)
    assert lengths[0] == 4


def test_gpt_generate_returns_each_rows_new_tokens(model):
    tokens, lengths = sample(model, PROMPTS, 5, temperature=0.0)
    out = model.generate(PROMPTS, max_new_tokens=5, temperature=0.0)
    assert out == [
        row[:n].tolist() for row, n in zip(tokens, lengths, strict=True)
    ]


def test_bad_arguments_get_clear_errors(model):
    with pytest.raises(ValueError, match="max_length=32"):
        sample(model, [[1] * 30], 5)
    with pytest.raises(ValueError, match="at least one token"):
        sample(model, [[1, 2], []], 3)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, PROMPTS, 3, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        sample(model, PROMPTS, 3, top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, PROMPTS, 3, top_k=0)
    with pytest.raises(ValueError, match="repetition_penalty"):
        sample(model, PROMPTS, 3, repetition_penalty=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample(model, PROMPTS, 0)
    with pytest.raises(ValueError, match="integer ids"):
        sample(model, np.ones((2, 3), "float32"), 3)


def test_filtered_tokens_are_never_drawn_even_at_extreme_noise(monkeypatch):
    """A uniform number of exactly 1 would make the Gumbel noise infinite;
    the largest one drawn is 1 - 2^-24, and filtered tokens are kept out
    whatever the noise."""
    from keras_transformer.generation import next_token

    seed, step = (ops.convert_to_tensor(v, "int32") for v in (0, 3))
    u = ops.convert_to_numpy(next_token._uniform((4, 1 << 16), seed, step))
    assert u.max() < 1.0 and u.min() > 0.0
    # Force the worst case: every uniform at its largest value.
    monkeypatch.setattr(
        next_token,
        "_uniform",
        lambda shape, seed, step: ops.full(shape, 1.0 - 2.0**-24),
    )
    fixed = FixedLogits(np.log([0.05, 0.5, 0.15, 0.3]))
    tokens, _ = sample(fixed, [[0]] * 8, 1, top_k=1, seed=0, jit_compile=False)
    assert np.all(tokens == 1)


def test_bad_ids_and_sizes_get_clear_errors(model):
    with pytest.raises(ValueError, match=r"must be in \[0, 23\).*\[23, 40\]"):
        sample(model, [[1, 23], [40]], 3)
    with pytest.raises(ValueError, match="flat list of ids"):
        sample(model, [1, 2, 3], 3)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, PROMPTS, 3, temperature=float("nan"))
    with pytest.raises(ValueError, match="temperature"):
        sample(model, PROMPTS, 3, temperature=True)
    # NumPy numbers are numbers; a top_k above the vocabulary keeps all.
    wide = sample(model, PROMPTS, 3, temperature=np.float32(1.0), top_k=99)
    plain = sample(model, PROMPTS, 3, temperature=1.0)
    np.testing.assert_array_equal(wide[0], plain[0])


def test_a_pad_id_outside_the_vocabulary_is_never_fed(model):
    free, _ = sample(model, PROMPTS, 6, temperature=0.0)
    # Row 0 stops at the first appearance of its second token (which may
    # also be its first: greedy decoding can repeat a token).
    row = [int(t) for t in free[0]]
    stop = row[1]
    ends = row.index(stop) + 1
    for jit in (False, True):
        tokens, lengths = sample(
            model,
            PROMPTS,
            6,
            temperature=0.0,
            stop_token_ids=[stop],
            pad_id=99,
            jit_compile=jit,
        )
        assert lengths[0] == ends and np.all(tokens[0, ends:] == 99)


def test_top_p_of_one_keeps_every_token():
    logits = ops.convert_to_tensor([[30.0, 0.0, 0.0, -5.0]])
    np.testing.assert_array_equal(
        ops.convert_to_numpy(top_p_filter(logits, 1.0)),
        ops.convert_to_numpy(logits),
    )


@pytest.mark.parametrize("settings", [dict(top_k=1), dict(top_p=0.5)])
def test_the_draw_keeps_what_the_filters_keep_whatever_the_logits(settings):
    """The sampler draws among the tokens a filter keeps (a boolean mask),
    not among the logits above some stand-in for minus infinity: a kept
    token whose logit lies below -1e9 (the value the public filters write
    over dropped ones) is still the one drawn."""
    fixed = FixedLogits([-5e9, -2e9, -3e9, -4e9])
    for seed in range(3):
        tokens, _ = sample(fixed, [[0]] * 8, 1, seed=seed, **settings)
        assert np.all(tokens == 1), (seed, tokens[:, 0])


def test_public_filters_write_their_value_over_dropped_logits():
    logits = ops.convert_to_tensor([[1.0, 4.0, -2.0, 3.0, 0.5]])
    out = ops.convert_to_numpy(top_k_filter(logits, 2))[0]
    np.testing.assert_array_equal(out, [-1e9, 4.0, -1e9, 3.0, -1e9])
    out = ops.convert_to_numpy(top_p_filter(logits, 0.5))[0]
    np.testing.assert_array_equal(out, [-1e9, 4.0, -1e9, -1e9, -1e9])
