import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.models import GPT
from tests.backend import compiled

CONFIG = dict(
    vocab_size=23,
    max_length=16,
    num_layers=2,
    d_model=16,
    num_heads=4,
    d_ff=32,
    dropout_rate=0.0,
)


def ids(batch=3, length=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 23, size=(batch, length)).astype("int32")


@pytest.mark.parametrize(
    "options",
    [{}, {"tie_embeddings": True}, {"norm_first": False}],
)
def test_saves_and_reloads_without_custom_objects(tmp_path, options):
    model = GPT(**CONFIG, **options)
    x = ids()
    expected = ops.convert_to_numpy(model(x))
    path = os.path.join(tmp_path, "gpt.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded(x)), expected, atol=1e-5
    )
    assert reloaded.get_config() == model.get_config()


def test_a_position_never_sees_later_tokens():
    model = GPT(**CONFIG)
    x = ids()
    logits = ops.convert_to_numpy(model(x))
    for j in (0, 4, 9):
        changed = x.copy()
        changed[:, j:] = (changed[:, j:] + 7) % 23
        other = ops.convert_to_numpy(model(changed))
        np.testing.assert_allclose(other[:, :j], logits[:, :j], atol=1e-5)
        assert not np.allclose(other[:, j], logits[:, j], atol=1e-3)


def test_right_padding_does_not_change_real_positions():
    model = GPT(**CONFIG)
    x = ids(length=6)
    padded = np.pad(x, ((0, 0), (0, 5)))
    np.testing.assert_allclose(
        ops.convert_to_numpy(model(padded))[:, :6],
        ops.convert_to_numpy(model(x)),
        atol=1e-5,
    )


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("options", [{}, {"position": "sinusoidal"}])
def test_cached_steps_equal_the_full_forward_pass(jit, options):
    """A prompt of 4 tokens in one cached pass, then one token per step:
    each step's logits equal the full pass's at that position."""
    model = GPT(**CONFIG, **options)
    x = ids(length=11)
    full = ops.convert_to_numpy(model(x))
    step = compiled(model.decode_step, model, jit_compile=jit)
    state = model.start_decoding(3, 12)
    logits, state = step(state, x[:, :4], 0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(logits), full[:, 3], atol=1e-5
    )
    for i in range(4, 11):
        logits, state = step(state, x[:, i : i + 1], i)
        np.testing.assert_allclose(
            ops.convert_to_numpy(logits), full[:, i], atol=1e-5
        )


def test_tied_embeddings_score_with_the_token_table():
    untied, tied = GPT(**CONFIG), GPT(**CONFIG, tie_embeddings=True)
    untied.build(), tied.build()
    assert untied.count_params() - tied.count_params() == 16 * 23 + 23
    table = ops.convert_to_numpy(tied._embedding.token_embeddings)
    x = ids()
    # The logits are the final hidden states times the token table: the
    # table's row space holds them (least squares recovers them exactly).
    logits = ops.convert_to_numpy(tied(x)).reshape(-1, 23)
    hidden, *_ = np.linalg.lstsq(table, logits.T, rcond=None)
    np.testing.assert_allclose(table @ hidden, logits.T, atol=1e-4)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_logits_are_float32_and_close(policy):
    reference = GPT(**CONFIG)
    x = ids()
    expected = ops.convert_to_numpy(reference(x))
    mixed = GPT(**CONFIG, dtype=policy)
    mixed.build()
    mixed.set_weights(reference.get_weights())
    out = mixed(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(ops.convert_to_numpy(out), expected, atol=0.1)


def test_errors_name_the_problem():
    model = GPT(**CONFIG)
    with pytest.raises(ValueError, match=r"integer ids \(batch, length\)"):
        model(np.zeros((2, 3, 4), "int32"))
    with pytest.raises(ValueError, match="integer ids"):
        model(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="max_length"):
        model(np.zeros((1, 17), "int32"))
    with pytest.raises(ValueError, match=r"max_length.*\[1, 16\]"):
        model.start_decoding(1, 17)
    with pytest.raises(ValueError, match="num_heads"):
        GPT(**{**CONFIG, "num_heads": 3})


def test_starts_with_gpt2_initialization():
    """GPT-2's start, read from the weights themselves (no weight names):
    each block's kernels have the standard deviations of a `DecoderLayer`
    declared with N(0, 0.02) and N(0, 0.02 / sqrt(2 L)) for the residual
    writers, two per block; every other matrix (embeddings, head) is
    N(0, 0.02); and no two matrices start equal."""
    from keras_transformer.layers import DecoderLayer

    layers, d_model, d_ff = 8, 64, 256
    model = GPT(
        **{**CONFIG, "d_model": d_model, "d_ff": d_ff, "num_layers": layers}
    )
    model.build()
    residual = 0.02 / np.sqrt(2 * layers)
    declared = DecoderLayer(
        d_model,
        CONFIG["num_heads"],
        d_ff,
        norm_first=True,
        use_cross_attention=False,
        activation="gelu",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        output_kernel_initializer=keras.initializers.RandomNormal(
            stddev=residual
        ),
    )
    declared.build((None, None, d_model))
    expected = [np.std(ops.convert_to_numpy(w)) for w in declared.weights]
    blocks = [b for b in model.layers if isinstance(b, DecoderLayer)]
    assert len(blocks) == layers
    for block in blocks:
        stds = [np.std(ops.convert_to_numpy(w)) for w in block.weights]
        assert len(stds) == len(expected)
        for std, want in zip(stds, expected, strict=True):
            assert abs(std - want) <= 0.1 * want, (block.name, std, want)
    matrices = [
        keras.ops.convert_to_numpy(w)
        for w in model.weights
        if w.path.endswith(("kernel", "embeddings"))
    ]
    # Each matrix draws its own values (none repeats another's).
    assert len({m.tobytes() for m in matrices}) == len(matrices)
    stds = np.array([np.std(m) for m in matrices])
    near_residual = np.abs(stds - residual) < 0.1 * residual
    assert near_residual.sum() == 2 * layers
    np.testing.assert_allclose(stds[~near_residual], 0.02, rtol=0.1)
    # embeddings (2), Q, K, V, W_1 per block (4 L), the head (1).
    assert (~near_residual).sum() == 2 + 4 * layers + 1


@pytest.mark.parametrize("tie", [False, True])
def test_logits_are_computed_in_float32_under_bfloat16(tie):
    model = GPT(**CONFIG, tie_embeddings=tie, dtype="mixed_bfloat16")
    model.build()
    x = ids()
    hidden = model._embedding(x)
    for block in model._blocks:
        hidden = block(hidden)
    hidden = ops.convert_to_numpy(
        ops.cast(model._final_norm(hidden), "float32")
    )
    if tie:
        table = ops.convert_to_numpy(model._embedding.token_embeddings)
        expected = hidden @ table.astype("float32").T
    else:
        kernel, bias = (ops.convert_to_numpy(w) for w in model._head.weights)
        expected = hidden @ kernel + bias
    np.testing.assert_allclose(
        ops.convert_to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5
    )


def test_declares_its_whole_state_as_following_a_hypothesis():
    model = GPT(**CONFIG)
    state = model.start_decoding(2, 8)
    assert sorted(model.beam_state_keys()) == sorted(state)


def test_attention_scores_are_each_blocks_own_and_causal():
    model = GPT(**CONFIG)
    x = ids()
    logits, attention = model(x, return_attention_scores=True)
    np.testing.assert_allclose(
        ops.convert_to_numpy(logits), ops.convert_to_numpy(model(x)), atol=1e-6
    )
    assert len(attention) == CONFIG["num_layers"]
    # The first block's weights, recomputed from its own layers.
    block = model._blocks[0]
    normed = block._self_attention_norm(model._embedding(x))
    _, expected = block._self_attention(
        normed, use_causal_mask=True, return_attention_scores=True
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(attention[0]),
        ops.convert_to_numpy(expected),
        atol=1e-6,
    )
    for weights in map(ops.convert_to_numpy, attention):
        assert weights.shape == (3, CONFIG["num_heads"], 10, 10)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(weights, k=1) == 0)
