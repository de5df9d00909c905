"""Properties of the attention layers over random sizes and padding:
padding invariance, causality, and no NaN under mixed precision (also in
rows whose keys are all padding). Backend-neutral."""

import keras
import numpy as np
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_transformer.layers import DecoderLayer
from keras_transformer.layers import EncoderLayer
from keras_transformer.layers import MultiHeadSelfAttention
from keras_transformer.models import GPT

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def padded_batches(draw, allow_empty_rows=False):
    """`(x, mask, sizes)`: random inputs `(batch, length, d_model)` and a
    right-padding mask with a random real length per row."""
    batch = draw(st.integers(1, 3))
    length = draw(st.integers(1, 6))
    num_heads = draw(st.sampled_from([1, 2, 4]))
    head_dim = draw(st.sampled_from([2, 4]))
    low = 0 if allow_empty_rows else 1
    real = draw(
        st.lists(st.integers(low, length), min_size=batch, max_size=batch)
    )
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    d_model = num_heads * head_dim
    x = rng.normal(size=(batch, length, d_model)).astype("float32")
    mask = np.arange(length)[None, :] < np.array(real)[:, None]
    return x, mask, (num_heads, d_model, seed)


def _changed_padding(x, mask, seed):
    noise = np.random.default_rng(seed + 1).normal(size=x.shape) * 10
    return np.where(mask[..., None], x, noise).astype(x.dtype)


@SETTINGS
@given(padded_batches())
def test_encoder_outputs_ignore_padded_positions(data):
    x, mask, (num_heads, d_model, seed) = data
    layer = EncoderLayer(d_model, num_heads, 2 * d_model, dropout_rate=0.0)
    before = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    after = keras.ops.convert_to_numpy(
        layer(_changed_padding(x, mask, seed), padding_mask=mask)
    )
    np.testing.assert_allclose(before[mask], after[mask], atol=1e-4)


@SETTINGS
@given(padded_batches())
def test_self_attention_outputs_ignore_padded_keys(data):
    x, mask, (num_heads, d_model, seed) = data
    layer = MultiHeadSelfAttention(num_heads)
    before = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    after = keras.ops.convert_to_numpy(
        layer(_changed_padding(x, mask, seed), padding_mask=mask)
    )
    np.testing.assert_allclose(before[mask], after[mask], atol=1e-4)


@SETTINGS
@given(padded_batches(), st.data())
def test_decoder_block_is_causal(data, draw):
    x, _, (num_heads, d_model, seed) = data
    length = x.shape[1]
    position = draw.draw(st.integers(0, length - 1))
    layer = DecoderLayer(
        d_model,
        num_heads,
        2 * d_model,
        dropout_rate=0.0,
        use_cross_attention=False,
    )
    changed = x.copy()
    changed[:, position:] += (
        np.random.default_rng(seed)
        .normal(size=changed[:, position:].shape)
        .astype("float32")
    )
    before = keras.ops.convert_to_numpy(layer(x))
    after = keras.ops.convert_to_numpy(layer(changed))
    np.testing.assert_allclose(
        before[:, :position], after[:, :position], atol=1e-4
    )


@SETTINGS
@given(
    st.integers(1, 3),
    st.integers(2, 8),
    st.integers(0, 7),
    st.integers(0, 2**16),
)
def test_gpt_is_causal(batch, length, position, seed):
    position = min(position, length - 1)
    model = GPT(
        vocab_size=11,
        max_length=8,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        dropout_rate=0.0,
    )
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 11, size=(batch, length))
    changed = ids.copy()
    changed[:, position:] = rng.integers(
        0, 11, size=changed[:, position:].shape
    )
    before = keras.ops.convert_to_numpy(model(ids))
    after = keras.ops.convert_to_numpy(model(changed))
    np.testing.assert_allclose(
        before[:, :position], after[:, :position], atol=1e-4
    )


@SETTINGS
@given(
    padded_batches(allow_empty_rows=True),
    st.sampled_from(["mixed_float16", "mixed_bfloat16"]),
    st.booleans(),
)
def test_no_nan_under_mixed_precision(data, policy, scores):
    x, mask, (num_heads, d_model, _) = data
    mask[0] = False  # at least one row whose keys are all padding
    keras.config.set_dtype_policy(policy)
    try:
        encoder = EncoderLayer(d_model, num_heads, 2 * d_model)
        out = encoder(
            x * 30.0, padding_mask=mask, return_attention_scores=scores
        )
        decoder = DecoderLayer(d_model, num_heads, 2 * d_model)
        dec = decoder(x, x * 30.0, padding_mask=mask, context_padding_mask=mask)
    finally:
        keras.config.set_dtype_policy("float32")
    for tensor in (out if scores else (out,)) + (dec,):
        values = keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float32"))
        assert np.isfinite(values).all()
