"""The random numbers of sampling: counter-based, the same on every
backend, eager or compiled, and one stream per row."""

import numpy as np
import pytest
from keras import ops

from keras_transformer.generation import _random
from keras_transformer.generation import sample
from keras_transformer.models import GPT
from tests.generation import _reference
from tests.generation._reference import FixedLogits


def int32(value):
    return ops.convert_to_tensor(value, "int32")


@pytest.mark.parametrize(
    "seed, step", [(0, 0), (5, 3), (-7, 100), (2**31 - 1, 17)]
)
def test_the_bits_are_those_of_the_numpy_reference(seed, step):
    """Bit for bit, on every backend: int32 arithmetic wraps as uint32
    does, and the right shifts are logical."""
    bits = _random.random_bits(int32(seed), int32(step), 3, 65)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(bits).view("uint32"),
        _reference.random_bits(seed, step, 3, 65),
    )


@pytest.mark.tensorflow
def test_tensorflow_draws_what_it_drew_before():
    """On TensorFlow the bits are those of `_backend.random_bits` (the
    TensorFlow-only generator sampling used before), so seeds keep their
    texts."""
    import tensorflow as tf

    from keras_transformer._backend import random_bits

    before = random_bits(tf, (3, 65), tf.constant([5, 3]))
    now = _random.random_bits(int32(5), int32(3), 3, 65)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(now).view("uint32"), before.numpy()
    )


@pytest.mark.parametrize("jit_compile", [True, False])
def test_draws_are_the_gumbel_max_of_the_numpy_reference(jit_compile):
    """With logits known exactly, the tokens are those NumPy computes from
    the reference bits: the same seed gives the same tokens on every
    backend, compiled or not. The token at new position `j` of a
    one-token prompt is drawn at step `1 + j`."""
    logits = np.log([0.1, 0.4, 0.2, 0.25, 0.05])
    tokens, _ = sample(
        FixedLogits(logits), [[0]] * 16, 6, seed=9, jit_compile=jit_compile
    )
    expected = np.stack(
        [_reference.gumbel_max(logits, 9, 1 + j, 16) for j in range(6)], 1
    )
    np.testing.assert_array_equal(tokens, expected)


# A GPT with these weights samples these tokens on TensorFlow, JAX and
# PyTorch alike (the logits differ in their last bits at most). A change
# of the GPT's architecture or weight order changes them: print the new
# ones from any backend.
WEIGHTS_SEED = 0
GOLDEN = [
    (
        dict(seed=3),
        [
            [10, 2, 12, 12, 22, 12, 13, 1],
            [12, 12, 13, 20, 16, 4, 16, 2],
            [2, 9, 9, 12, 12, 22, 13, 3],
            [7, 12, 9, 12, 4, 22, 15, 4],
        ],
    ),
    (
        dict(
            seed=4, temperature=0.8, top_k=5, top_p=0.9, repetition_penalty=1.3
        ),
        [
            [12, 2, 2, 22, 12, 12, 12, 4],
            [2, 2, 22, 12, 12, 12, 2, 16],
            [2, 12, 4, 12, 2, 4, 18, 12],
            [12, 22, 12, 2, 12, 18, 7, 4],
        ],
    ),
]


@pytest.fixture(scope="module")
def model():
    model = GPT(
        vocab_size=23,
        max_length=32,
        num_layers=2,
        d_model=16,
        num_heads=4,
        d_ff=32,
        dropout_rate=0.0,
    )
    rng = np.random.default_rng(WEIGHTS_SEED)
    model.set_weights(
        [rng.normal(0, 0.5, w.shape).astype("float32") for w in model.weights]
    )
    return model


@pytest.mark.parametrize("settings, expected", GOLDEN)
def test_a_seed_gives_the_same_text_on_every_backend(model, settings, expected):
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9], [10, 11]]
    tokens, _ = sample(model, prompts, 8, **settings)
    np.testing.assert_array_equal(tokens, expected)


def test_each_row_draws_its_own_numbers(model):
    """Equal prompts in one batch give different texts (the row is part of
    the counter), and row 0 draws the same whatever the batch size."""
    prompt = [1, 2, 3]
    tokens, _ = sample(model, [prompt] * 4, 10, seed=5)
    assert len({tuple(row) for row in tokens.tolist()}) == 4
    alone, _ = sample(model, [prompt], 10, seed=5)
    np.testing.assert_array_equal(alone[0], tokens[0])


def test_different_seeds_give_different_texts(model):
    texts = {
        tuple(sample(model, [[1, 2, 3]], 10, seed=seed)[0][0].tolist())
        for seed in range(4)
    }
    assert len(texts) == 4
