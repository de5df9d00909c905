import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import DecoderLayer
from tests.backend import value_and_gradients
from tests.layer_test_case import assert_padding_invariant
from tests.layer_test_case import run_layer_test

B, T, S, D, H, F = 2, 6, 5, 8, 2, 16


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D)).astype("float32")
    context = rng.normal(size=(B, S, D)).astype("float32")
    context_mask = np.ones((B, S), bool)
    context_mask[0, -2:] = False
    return x, context, context_mask


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_contract(norm_first):
    run_layer_test(
        DecoderLayer,
        {"d_model": D, "num_heads": H, "d_ff": F, "norm_first": norm_first},
        input_shape=(B, T, D),
        expected_output_shape=(B, T, D),
        extra_inputs={
            "context": ((B, S, D), "float32"),
            "padding_mask": ((B, T), "bool"),
            "context_padding_mask": ((B, S), "bool"),
        },
        padded_inputs={
            "padding_mask": "inputs",
            "context_padding_mask": "context",
        },
    )


def test_layer_contract_without_cross_attention():
    run_layer_test(
        DecoderLayer,
        {"d_model": D, "num_heads": H, "d_ff": F, "use_cross_attention": False},
        input_shape=(B, T, D),
        expected_output_shape=(B, T, D),
        extra_inputs={"padding_mask": ((B, T), "bool")},
        padded_inputs={"padding_mask": "inputs"},
    )


@pytest.mark.parametrize("cross", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("t", [0, 2, T - 2])
def test_no_causal_leak(cross, norm_first, t):
    """Changing tokens after position t never changes outputs at <= t."""
    layer = DecoderLayer(
        D, H, F, norm_first=norm_first, use_cross_attention=cross
    )
    x, context, _ = data()
    changed = x.copy()
    changed[:, t + 1 :] = data(seed=5)[0][:, t + 1 :]
    args = (context,) if cross else ()
    before = ops.convert_to_numpy(layer(x, *args))
    after = ops.convert_to_numpy(layer(changed, *args))
    np.testing.assert_allclose(after[:, : t + 1], before[:, : t + 1], atol=1e-6)
    assert not np.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_padding_invariance_with_left_padding():
    """Left padding (as for a batch of prompts) is hidden from real tokens."""
    layer = DecoderLayer(D, H, F, use_cross_attention=False)
    x, _, _ = data()
    mask = np.ones((B, T), bool)
    mask[0, :2] = False
    assert_padding_invariant(
        layer, {"inputs": x, "padding_mask": mask}, {}, "padding_mask", "inputs"
    )


def test_cross_attention_padding_from_implicit_mask():
    layer = DecoderLayer(D, H, F)
    x, context, mask = data()
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, context, context_mask=mask)),
        ops.convert_to_numpy(layer(x, context, context_padding_mask=mask)),
        atol=1e-6,
    )


def decode_with_cache(layer, x, context=None, context_mask=None, padding=None):
    cache = layer.init_cache(B, T)
    cross = (
        layer.compute_cross_attention_cache(context)
        if layer.use_cross_attention
        else None
    )
    outputs = []
    for i in range(T):
        out, cache = layer(
            x[:, i : i + 1],
            padding_mask=padding,
            context_padding_mask=context_mask,
            cache=cache,
            cache_index=i,
            cross_attention_cache=cross,
        )
        outputs.append(ops.convert_to_numpy(out))
    return np.concatenate(outputs, axis=1)


@pytest.mark.parametrize("cross", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_cache_equals_full_sequence(cross, norm_first):
    layer = DecoderLayer(
        D, H, F, norm_first=norm_first, use_cross_attention=cross
    )
    x, context, mask = data()
    if cross:
        full = layer(x, context, context_padding_mask=mask)
        stepped = decode_with_cache(layer, x, context, mask)
    else:
        full = layer(x)
        stepped = decode_with_cache(layer, x)
    np.testing.assert_allclose(stepped, ops.convert_to_numpy(full), atol=1e-5)


def test_cache_works_with_context_instead_of_cross_cache():
    layer = DecoderLayer(D, H, F)
    x, context, _ = data()
    full = ops.convert_to_numpy(layer(x, context))
    cache = layer.init_cache(B, T)
    out, cache = layer(x[:, :3], context, cache=cache, cache_index=0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), full[:, :3], atol=1e-5
    )
    out, cache = layer(x[:, 3:4], context, cache=cache, cache_index=3)
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), full[:, 3:4], atol=1e-5
    )


def test_returns_both_attention_maps():
    layer = DecoderLayer(D, H, F)
    x, context, mask = data()
    out, scores = layer(
        x, context, context_padding_mask=mask, return_attention_scores=True
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(out),
        ops.convert_to_numpy(layer(x, context, context_padding_mask=mask)),
        atol=1e-6,
    )
    self_scores = ops.convert_to_numpy(scores["self_attention"])
    cross_scores = ops.convert_to_numpy(scores["cross_attention"])
    assert self_scores.shape == (B, H, T, T)
    assert cross_scores.shape == (B, H, T, S)
    assert np.all(self_scores[:, :, np.triu(np.ones((T, T), bool), 1)] == 0)
    assert np.all(cross_scores[0, :, :, -2:] == 0)


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_all_padding_rows_stay_finite(policy):
    layer = DecoderLayer(D, H, F, dtype=policy)
    x, context, _ = data()
    padding = np.ones((B, T), bool)
    padding[0] = False
    context_mask = np.ones((B, S), bool)
    context_mask[1] = False

    def output():
        out = layer(
            x,
            context,
            padding_mask=padding,
            context_padding_mask=context_mask,
            training=True,
        )
        return ops.cast(out, "float32")

    assert np.all(np.isfinite(ops.convert_to_numpy(output())))
    loss, grads = value_and_gradients(
        lambda: ops.sum(output()), layer.trainable_weights
    )
    assert np.isfinite(loss)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)


def test_errors_name_the_argument():
    x, context, _ = data()
    with pytest.raises(ValueError, match=r"context.*Received: context=None"):
        DecoderLayer(D, H, F)(x)
    with pytest.raises(ValueError, match=r"use_cross_attention=False.*context"):
        DecoderLayer(D, H, F, use_cross_attention=False)(x, context)
    with pytest.raises(ValueError, match=r"d_model=8, num_heads=3"):
        DecoderLayer(D, 3, F)
    with pytest.raises(ValueError, match=r"dropout_rate=1\.0"):
        DecoderLayer(D, H, F, dropout_rate=1.0)


def test_implicit_masks_flow_through_a_functional_model():
    """Embeddings with mask_zero give the decoder both padding masks: the
    same sentences padded to more length give the same outputs."""
    from keras_transformer.layers import TokenAndPositionEmbedding

    src = keras.Input((None,), dtype="int32")
    tgt = keras.Input((None,), dtype="int32")
    context = TokenAndPositionEmbedding(20, D, 16)(src)
    x = TokenAndPositionEmbedding(20, D, 16)(tgt)
    model = keras.Model([src, tgt], DecoderLayer(D, H, F)(x, context))
    source = np.array([[3, 4, 0], [5, 6, 7]])
    target = np.array([[8, 9, 0], [1, 2, 3]])
    short = ops.convert_to_numpy(model([source, target]))
    padded = [np.pad(a, ((0, 0), (0, 3))) for a in (source, target)]
    long = ops.convert_to_numpy(model(padded))
    np.testing.assert_allclose(long[0, :2], short[0, :2], atol=1e-5)
    np.testing.assert_allclose(long[1, :3], short[1, :3], atol=1e-5)


@pytest.mark.parametrize("cross", [True, False])
def test_output_kernel_initializer_reaches_every_residual_writer(cross):
    """A pre-norm block adds each sublayer's output to its input. With
    every kernel that writes into the residual stream (each attention's
    W_O, the feed-forward's W_2) started at zero and zero biases, the
    block starts as the identity; with the default initializer it does
    not."""
    x, context, _ = data()
    kwargs = dict(norm_first=True, use_cross_attention=cross, dropout_rate=0.0)
    zero = DecoderLayer(
        D,
        H,
        F,
        kernel_initializer="random_normal",
        output_kernel_initializer="zeros",
        **kwargs,
    )
    plain = DecoderLayer(D, H, F, kernel_initializer="random_normal", **kwargs)
    context = context if cross else None
    np.testing.assert_array_equal(ops.convert_to_numpy(zero(x, context)), x)
    assert not np.allclose(
        ops.convert_to_numpy(plain(x, context)), x, atol=1e-3
    )


def test_configs_written_before_the_initializer_arguments_load():
    layer = DecoderLayer(
        D, H, F, output_kernel_initializer=keras.initializers.Zeros()
    )
    config = layer.get_config()
    assert config["output_kernel_initializer"]["class_name"] == "Zeros"
    assert DecoderLayer.from_config(config).get_config() == config
    del config["kernel_initializer"], config["output_kernel_initializer"]
    old = DecoderLayer.from_config(config)
    assert old.output_kernel_initializer is None
    assert old.get_config()["kernel_initializer"]["class_name"] == (
        "GlorotUniform"
    )


def test_sublayers_draw_their_own_values():
    """Every kernel starts with values of its own: Q, K, V and W_O of the
    self- and cross-attention and the two feed-forward kernels (ten
    kernels, the same number of values each here) are all different."""
    layer = DecoderLayer(D, H, D)
    layer.build((None, None, D), (None, None, D))
    kernels = [
        keras.ops.convert_to_numpy(w).tobytes()
        for w in layer.weights
        if w.path.endswith("kernel")
    ]
    assert len(kernels) == 10
    assert len(set(kernels)) == 10
