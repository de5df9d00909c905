import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import CrossAttention
from tests import reference
from tests.backend import value_and_gradients
from tests.layer_test_case import run_layer_test

B, T, S, D, C, H = 2, 4, 6, 8, 6, 2


def make_layer(**kwargs):
    layer = CrossAttention(
        num_heads=H, bias_initializer="random_normal", **kwargs
    )
    layer.build((B, T, D), (B, S, C))
    return layer


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D)).astype("float32")
    context = rng.normal(size=(B, S, C)).astype("float32")
    mask = np.ones((B, S), bool)
    mask[0, -2:] = False
    return x, context, mask


def test_layer_contract():
    run_layer_test(
        CrossAttention,
        {"num_heads": H, "dropout_rate": 0.1},
        input_shape=(B, T, D),
        expected_output_shape=(B, T, D),
        extra_inputs={
            "context": ((B, S, C), "float32"),
            "context_padding_mask": ((B, S), "bool"),
        },
        padded_inputs={"context_padding_mask": "context"},
    )


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("return_scores", [False, True])
def test_matches_numpy_reference(use_mask, return_scores):
    layer = make_layer()
    x, context, mask = data()
    full = np.broadcast_to(mask[:, None, :], (B, T, S)) if use_mask else None
    expected, expected_weights = reference.multi_head_attention(
        layer, x.astype("float64"), context.astype("float64"), full
    )
    result = layer(
        x,
        context,
        context_padding_mask=mask if use_mask else None,
        return_attention_scores=return_scores,
    )
    if return_scores:
        result, weights = result
        np.testing.assert_allclose(
            ops.convert_to_numpy(weights), expected_weights, atol=1e-5
        )
    np.testing.assert_allclose(
        ops.convert_to_numpy(result), expected, atol=1e-5
    )


def test_implicit_context_mask_is_honoured():
    layer = make_layer()
    x, context, mask = data()
    explicit = ops.convert_to_numpy(
        layer(x, context, context_padding_mask=mask)
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, context, context_mask=mask)),
        explicit,
        atol=1e-6,
    )


def test_cache_equals_recomputing_from_context():
    layer = make_layer()
    x, context, mask = data()
    cache = layer.compute_cache(context)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x, cache=cache, context_padding_mask=mask)),
        ops.convert_to_numpy(layer(x, context, context_padding_mask=mask)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_all_padding_context_stays_finite(policy):
    layer = CrossAttention(num_heads=H, dtype=policy)
    x, context, _ = data()
    mask = np.ones((B, S), bool)
    mask[1] = False

    def output():
        out = layer(x, context, context_padding_mask=mask)
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
        CrossAttention(num_heads=H)(x)
    with pytest.raises(ValueError, match=r"rank 3.*context.shape=\(2, 6\)"):
        CrossAttention(num_heads=H)(x, context[:, :, 0])
    with pytest.raises(ValueError, match=r"d_model=8, num_heads=3"):
        CrossAttention(num_heads=3)(x, context)
    layer = make_layer()
    with pytest.raises(ValueError, match=r"context=None, cache=None"):
        layer(x)
    with pytest.raises(ValueError, match=r"no weights yet.*context.shape"):
        CrossAttention(num_heads=H).compute_cache(context)
