import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import MultiHeadSelfAttention
from tests import reference
from tests.backend import compiled
from tests.backend import value_and_gradients
from tests.layer_test_case import run_layer_test

B, T, D, H = 2, 6, 8, 2


def make_layer(**kwargs):
    layer = MultiHeadSelfAttention(
        num_heads=H, bias_initializer="random_normal", **kwargs
    )
    layer.build((B, T, D))
    return layer


def inputs(seed=0, shape=(B, T, D)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def pad_mask():
    mask = np.ones((B, T), bool)
    mask[0, -2:] = False
    return mask


@pytest.mark.parametrize("causal", [False, True])
def test_layer_contract(causal):
    run_layer_test(
        MultiHeadSelfAttention,
        {"num_heads": H, "dropout_rate": 0.1},
        input_shape=(B, T, D),
        expected_output_shape=(B, T, D),
        call_kwargs={"use_causal_mask": causal},
        extra_inputs={"padding_mask": ((B, T), "bool")},
        padded_inputs={"padding_mask": "inputs"},
    )


@pytest.mark.parametrize("masked", ["none", "padding", "causal", "both"])
@pytest.mark.parametrize("return_scores", [False, True])
def test_matches_numpy_reference(masked, return_scores):
    layer = make_layer()
    x = inputs()
    mask = np.ones((B, T, T), bool)
    kwargs = {}
    if masked in ("padding", "both"):
        kwargs["padding_mask"] = pad_mask()
        mask &= pad_mask()[:, None, :]
    if masked in ("causal", "both"):
        kwargs["use_causal_mask"] = True
        mask &= np.tril(np.ones((T, T), bool))[None]
    expected, expected_weights = reference.multi_head_attention(
        layer, x.astype("float64"), x.astype("float64"), mask
    )
    result = layer(x, return_attention_scores=return_scores, **kwargs)
    if return_scores:
        result, weights = result
        # Per head: weights[b, h] is softmax(Q_h K_h^T / sqrt(d_k)).
        np.testing.assert_allclose(
            ops.convert_to_numpy(weights), expected_weights, atol=1e-5
        )
    np.testing.assert_allclose(
        ops.convert_to_numpy(result), expected, atol=1e-5
    )


def test_scaling_uses_head_width():
    """The logits are divided by sqrt(d_k) = sqrt(d_model / num_heads), not
    sqrt(d_model): checked against weights computed by hand."""
    layer = make_layer()
    x = inputs()
    _, weights = layer(x, return_attention_scores=True)
    weights = ops.convert_to_numpy(weights)
    (wq, bq), (wk, bk), _, _ = reference.attention_weights(layer)
    q = np.einsum("btd,dhk->bthk", x, wq) + bq
    k = np.einsum("bsd,dhk->bshk", x, wk) + bk
    logits = np.einsum("bthk,bshk->bhts", q, k)
    d_k = D // H
    np.testing.assert_allclose(
        weights, reference.softmax(logits / np.sqrt(d_k)), atol=1e-5
    )
    assert not np.allclose(weights, reference.softmax(logits / np.sqrt(D)))


def test_causal_mask_hides_the_future():
    layer = make_layer()
    x = inputs()
    changed = x.copy()
    t = 2
    changed[:, t + 1 :] = inputs(seed=3)[:, t + 1 :]
    before, weights = layer(
        x, use_causal_mask=True, return_attention_scores=True
    )
    before = ops.convert_to_numpy(before)
    after = ops.convert_to_numpy(layer(changed, use_causal_mask=True))
    np.testing.assert_allclose(after[:, : t + 1], before[:, : t + 1], atol=1e-6)
    assert not np.allclose(after[:, t + 1 :], before[:, t + 1 :])
    upper = np.triu(np.ones((T, T), bool), k=1)
    assert np.all(ops.convert_to_numpy(weights)[:, :, upper] == 0.0)


def test_implicit_keras_mask_is_honoured():
    layer = make_layer()
    x = inputs()
    explicit = ops.convert_to_numpy(layer(x, padding_mask=pad_mask()))
    implicit = ops.convert_to_numpy(layer(x, mask=pad_mask()))
    unmasked = ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(implicit, explicit, atol=1e-6)
    assert not np.allclose(unmasked[0], explicit[0])  # row 0 has padding


def test_explicit_padding_mask_wins_over_implicit():
    layer = make_layer()
    x = inputs()
    everything = np.ones((B, T), bool)
    out = layer(x, padding_mask=everything, mask=pad_mask())
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), ops.convert_to_numpy(layer(x)), atol=1e-6
    )


def decode_step_by_step(layer, x, padding_mask=None, chunks=None):
    """Feeds `x` through the cache in chunks (default: one token each)."""
    cache = layer.init_cache(x.shape[0], x.shape[1])
    chunks = chunks or [1] * x.shape[1]
    outputs, start = [], 0
    for size in chunks:
        out, cache = layer(
            x[:, start : start + size],
            padding_mask=padding_mask,
            use_causal_mask=True,
            cache=cache,
            cache_index=start,
        )
        outputs.append(ops.convert_to_numpy(out))
        start += size
    return np.concatenate(outputs, axis=1)


def test_cache_equals_full_sequence():
    layer = make_layer()
    x = inputs()
    full = ops.convert_to_numpy(layer(x, use_causal_mask=True))
    np.testing.assert_allclose(decode_step_by_step(layer, x), full, atol=1e-5)
    # A prompt of three tokens at once (prefill), then one at a time.
    np.testing.assert_allclose(
        decode_step_by_step(layer, x, chunks=[3, 1, 1, 1]), full, atol=1e-5
    )


def test_cache_with_left_padding_equals_full_sequence():
    layer = make_layer()
    x = inputs()
    mask = np.ones((B, T), bool)
    mask[0, :2] = False  # a shorter prompt, padded on the left
    full = ops.convert_to_numpy(
        layer(x, padding_mask=mask, use_causal_mask=True)
    )
    stepped = decode_step_by_step(layer, x, padding_mask=mask)
    np.testing.assert_allclose(stepped[0, 2:], full[0, 2:], atol=1e-5)
    np.testing.assert_allclose(stepped[1], full[1], atol=1e-5)


def test_cache_step_compiles_with_a_tensor_index():
    layer = make_layer()
    x = inputs()
    full = ops.convert_to_numpy(layer(x, use_causal_mask=True))

    def step(token, cache, index):
        return layer(
            token, use_causal_mask=True, cache=cache, cache_index=index
        )

    step = compiled(step, layer)
    cache = layer.init_cache(B, T)
    for i in range(T):
        index = ops.convert_to_tensor(i, "int32")
        out, cache = step(x[:, i : i + 1], cache, index)
        np.testing.assert_allclose(
            ops.convert_to_numpy(out)[:, 0], full[:, i], atol=1e-5
        )


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_all_padding_row_stays_finite(policy):
    layer = MultiHeadSelfAttention(num_heads=H, dtype=policy)
    x = inputs()
    mask = np.ones((B, T), bool)
    mask[0] = False  # every key of row 0 is padding
    for scores in (False, True):

        def output(scores=scores):
            out = layer(x, padding_mask=mask, return_attention_scores=scores)
            out = out[0] if scores else out
            return ops.cast(out, "float32")

        assert np.all(np.isfinite(ops.convert_to_numpy(output())))
        loss, grads = value_and_gradients(
            lambda: ops.sum(output()), layer.trainable_weights
        )
        assert np.isfinite(loss)
        for grad in grads:
            assert grad is not None and np.all(np.isfinite(grad))


def test_dropout_follows_training():
    layer = make_layer(dropout_rate=0.5)
    plain = make_layer()
    plain.set_weights(layer.get_weights())
    x = inputs()
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, training=False)),
        ops.convert_to_numpy(plain(x, training=False)),
        atol=1e-6,
    )
    _, weights = layer(x, training=True, return_attention_scores=True)
    assert not np.allclose(
        ops.convert_to_numpy(layer(x, training=True)),
        ops.convert_to_numpy(plain(x)),
        atol=1e-3,
    )
    # Returned weights are the softmax before dropout: rows sum to one.
    np.testing.assert_allclose(
        np.sum(ops.convert_to_numpy(weights), -1), 1.0, atol=1e-5
    )


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"num_heads.*Received: num_heads=0"):
        MultiHeadSelfAttention(num_heads=0)
    with pytest.raises(ValueError, match=r"dropout_rate=1\.5"):
        MultiHeadSelfAttention(num_heads=2, dropout_rate=1.5)
    with pytest.raises(ValueError, match=r"key_dim=-1"):
        MultiHeadSelfAttention(num_heads=2, key_dim=-1)
    with pytest.raises(ValueError, match=r"d_model=10, num_heads=4"):
        MultiHeadSelfAttention(num_heads=4)(np.zeros((1, 3, 10), "float32"))
    with pytest.raises(ValueError, match=r"rank 3.*inputs.shape=\(3, 8\)"):
        MultiHeadSelfAttention(num_heads=2)(np.zeros((3, 8), "float32"))
    layer = make_layer()
    with pytest.raises(ValueError, match=r"cache_index.*Received: cache_index"):
        layer(inputs(), cache=layer.init_cache(B, T))


def test_key_dim_may_differ_from_d_model_over_heads():
    layer = MultiHeadSelfAttention(num_heads=3, key_dim=5)
    out = layer(np.zeros((1, 4, 10), "float32"))
    assert out.shape == (1, 4, 10)
    assert tuple(layer.query_projection.kernel.shape) == (10, 15)
    assert tuple(layer.output_projection.kernel.shape) == (15, 10)


def test_symbolic_call_can_return_scores():
    x = keras.Input((T, D))
    out, scores = MultiHeadSelfAttention(num_heads=H)(
        x, return_attention_scores=True
    )
    assert tuple(scores.shape) == (None, H, T, T)


def test_output_kernel_initializer_starts_w_o_only():
    layer = MultiHeadSelfAttention(
        num_heads=H,
        kernel_initializer=keras.initializers.Constant(0.1),
        output_kernel_initializer=keras.initializers.Constant(0.3),
    )
    layer.build((B, T, D))
    for projection in (
        layer.query_projection,
        layer.key_projection,
        layer.value_projection,
    ):
        np.testing.assert_array_equal(
            projection.kernel, np.full((D, D), 0.1, "float32")
        )
    np.testing.assert_array_equal(
        layer.output_projection.kernel, np.full((D, D), 0.3, "float32")
    )
    config = layer.get_config()
    assert config["output_kernel_initializer"]["class_name"] == "Constant"
    assert MultiHeadSelfAttention.from_config(config).get_config() == config


def test_loads_weights_saved_with_three_axis_kernels(tmp_path):
    """Weights saved while the projections were `EinsumDense` layers
    (kernels `(d_model, H, d_k)` and `(H, d_k, d_model)`, Q/K/V biases
    `(H, d_k)`) load into the `Dense` projections as the same numbers: the
    layer computes what it computed before saving."""
    import h5py

    layer = make_layer()
    model = keras.Sequential([keras.Input((T, D)), layer])
    expected = ops.convert_to_numpy(model(inputs()))
    path = tmp_path / "earlier.weights.h5"
    model.save_weights(path)
    d_k = D // H
    # (group of the projection in the file, variable index) -> the shape
    # an `EinsumDense` projection saved.
    three_axis = {
        ("query_projection", 0): (D, H, d_k),
        ("query_projection", 1): (H, d_k),
        ("key_projection", 0): (D, H, d_k),
        ("key_projection", 1): (H, d_k),
        ("value_projection", 0): (D, H, d_k),
        ("value_projection", 1): (H, d_k),
        ("output_projection", 0): (H, d_k, D),
    }
    found = {}

    def find(name, node):
        parts = name.split("/")
        if isinstance(node, h5py.Dataset) and parts[-1].isdigit():
            key = (parts[-3], int(parts[-1]))
            if key in three_axis:
                found[key] = name

    with h5py.File(path, "r+") as store:
        store.visititems(find)
        assert sorted(found) == sorted(three_axis)
        for key, name in found.items():
            value = store[name][()].reshape(three_axis[key])
            del store[name]
            store.create_dataset(name, data=value)

    fresh = keras.Sequential([keras.Input((T, D)), make_layer()])
    fresh.load_weights(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(fresh(inputs())), expected, atol=1e-6
    )
