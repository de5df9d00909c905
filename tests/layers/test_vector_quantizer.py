import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import VectorQuantizer
from tests.backend import value_and_gradients
from tests.layer_test_case import run_layer_test


def inputs(shape=(2, 3, 3, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer_contract():
    run_layer_test(
        VectorQuantizer,
        {"num_codes": 8, "code_dim": 4},
        input_shape=(2, 3, 3, 4),
        expected_output_shape=(2, 3, 3, 4),
    )


def test_each_vector_becomes_its_nearest_entry():
    vq = VectorQuantizer(num_codes=8, code_dim=4)
    z = inputs()
    out = ops.convert_to_numpy(vq(z))
    codebook = ops.convert_to_numpy(vq.codebook)
    distances = ((z[..., None, :] - codebook) ** 2).sum(-1)
    expected = distances.argmin(-1)
    codes = ops.convert_to_numpy(vq.codes(z))
    assert codes.dtype == np.int32 and codes.shape == (2, 3, 3)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_allclose(out, codebook[expected], atol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(vq.lookup(codes)), out, atol=1e-6
    )


def test_gradient_passes_straight_through():
    """d(sum(out * probe)) / dz = probe: the quantization step is skipped by
    the backward pass, whatever entries were chosen."""
    vq = VectorQuantizer(num_codes=8, code_dim=4)
    z = keras.Variable(inputs())
    vq(z)
    probe = inputs(seed=1)
    probe_tensor = ops.convert_to_tensor(probe)
    _, (grad,) = value_and_gradients(lambda: ops.sum(vq(z) * probe_tensor), [z])
    np.testing.assert_allclose(grad, probe, atol=1e-6)


def test_commitment_loss_is_added():
    vq = VectorQuantizer(num_codes=8, code_dim=4, commitment_cost=0.5)
    z = inputs()
    out = ops.convert_to_numpy(vq(z))
    (loss,) = vq.losses
    expected = 0.5 * np.mean((z - out) ** 2)
    np.testing.assert_allclose(ops.convert_to_numpy(loss), expected, rtol=1e-5)


def test_training_moves_entries_to_their_vectors():
    vq = VectorQuantizer(
        num_codes=8, code_dim=4, decay=0.9, epsilon=1e-5, restart_threshold=0
    )
    z = inputs()
    vq(z)
    count = ops.convert_to_numpy(vq.ema_count)
    total_sum = ops.convert_to_numpy(vq.ema_sum)
    codes = ops.convert_to_numpy(vq.codes(z)).reshape(-1)
    flat = z.reshape(-1, 4)
    one_hot = np.eye(8)[codes]
    count = 0.9 * count + 0.1 * one_hot.sum(0)
    total_sum = 0.9 * total_sum + 0.1 * one_hot.T @ flat
    n = count.sum()
    smoothed = (count + 1e-5) / (n + 8e-5) * n
    vq(z, training=True)
    np.testing.assert_allclose(
        ops.convert_to_numpy(vq.codebook),
        total_sum / smoothed[:, None],
        rtol=1e-4,
        atol=1e-6,
    )
    # Inference leaves the codebook alone.
    before = ops.convert_to_numpy(vq.codebook)
    vq(z)
    np.testing.assert_array_equal(ops.convert_to_numpy(vq.codebook), before)


def test_dead_entries_restart_on_batch_vectors():
    vq = VectorQuantizer(num_codes=8, code_dim=4, seed=0)
    # Every vector near one entry: the seven others are never chosen.
    z = inputs(shape=(64, 4), seed=2) * 0.01 + 5.0
    vq.build(z.shape)
    before = ops.convert_to_numpy(vq.codebook)
    used = set(ops.convert_to_numpy(vq.codes(z)).tolist())
    vq(z, training=True)
    after = ops.convert_to_numpy(vq.codebook)
    count = ops.convert_to_numpy(vq.ema_count)
    for j in range(8):
        if j in used:
            continue
        # A restarted entry is one of the batch's vectors, counted once.
        assert np.min(np.abs(z - after[j]).max(-1)) < 1e-6, j
        assert count[j] == 1.0
        assert not np.allclose(after[j], before[j])
    assert len(set(ops.convert_to_numpy(vq.codes(z)).tolist())) > len(used)


def test_perplexity_counts_the_entries_in_use():
    vq = VectorQuantizer(num_codes=8, code_dim=4)
    one = np.zeros((4, 5), "int32")
    every = np.tile(np.arange(8, dtype="int32"), 5)
    assert float(vq.perplexity(one)) == pytest.approx(1.0, abs=1e-4)
    assert float(vq.perplexity(every)) == pytest.approx(8.0, rel=1e-4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_codes"):
        VectorQuantizer(num_codes=0, code_dim=4)
    with pytest.raises(ValueError, match="decay"):
        VectorQuantizer(num_codes=4, code_dim=4, decay=1.0)
    with pytest.raises(ValueError, match="code_dim"):
        VectorQuantizer(num_codes=4, code_dim=4)(np.zeros((2, 3), "float32"))
