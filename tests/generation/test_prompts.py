"""The one policy for a prompt longer than the model's window leaves room
for: an error by default, the last tokens with `long_prompt="crop"`."""

import numpy as np
import pytest
from keras import ops

from keras_transformer.generation import fit_prompts
from keras_transformer.generation import sample
from keras_transformer.models import GPT

# max_length 16, 6 new tokens: a prompt may have at most 10 tokens.
LONG = list(range(1, 14))  # 13 tokens
TOO_LONG = (
    r"Prompt 1 has 13 tokens, more than the 10 that fit before "
    r"max_new_tokens=6 in the model's max_length=16\. Shorten it, generate "
    r'fewer tokens, or pass long_prompt="crop" to keep its last 10 tokens\.'
)


@pytest.fixture(scope="module")
def model():
    return GPT(
        vocab_size=23,
        max_length=16,
        num_layers=1,
        d_model=16,
        num_heads=2,
        d_ff=32,
        dropout_rate=0.0,
    )


def test_fit_prompts_errors_by_default_and_crops_the_left_when_asked():
    prompts = [[5, 6], LONG, list(range(10))]
    with pytest.raises(ValueError, match=TOO_LONG):
        fit_prompts(prompts, 16, 6)
    assert fit_prompts(prompts, 16, 6, long_prompt="crop") == [
        [5, 6],
        LONG[-10:],
        list(range(10)),  # exactly 10 tokens: fits as it is
    ]
    assert fit_prompts(prompts[:1], 16, 6) == [[5, 6]]


def test_fit_prompts_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"max_new_tokens.*at most 15"):
        fit_prompts([[1]], 16, 16, long_prompt="crop")
    with pytest.raises(ValueError, match='"error" or "crop".*\'left\''):
        fit_prompts([[1]], 16, 6, long_prompt="left")
    with pytest.raises(ValueError, match="flat list of ids"):
        fit_prompts([1, 2], 16, 6)


class EchoesItsFirstToken:
    """A decoder whose next token is always the first token it was fed,
    so that greedy decoding shows where its prompt started."""

    vocab_size = 23
    max_length = 16

    def start_decoding(self, batch_size, max_length):
        return {"first": ops.zeros((batch_size,), "int32")}

    def decode_step(self, state, token_ids, index):
        first = ops.where(ops.equal(index, 0), token_ids[:, 0], state["first"])
        return 10.0 * ops.one_hot(first, self.vocab_size), {"first": first}

    def __call__(self, prefix, training=False):
        echo = 10.0 * ops.one_hot(ops.convert_to_tensor(prefix)[:, 0], 23)
        return ops.repeat(echo[:, None], ops.shape(prefix)[1], axis=1)


@pytest.mark.parametrize("use_cache", [True, False])
def test_sample_applies_the_policy(use_cache):
    echo = EchoesItsFirstToken()
    prompts = [[5, 6], LONG]
    with pytest.raises(ValueError, match=TOO_LONG):
        sample(echo, prompts, 6, use_cache=use_cache)
    greedy = dict(temperature=0.0, use_cache=use_cache)
    tokens, lengths = sample(echo, prompts, 6, long_prompt="crop", **greedy)
    # The long prompt starts at its 10th-last token, LONG[3] = 4.
    np.testing.assert_array_equal(tokens, [[5] * 6, [4] * 6])
    np.testing.assert_array_equal(lengths, [6, 6])


def test_gpt_generate_applies_the_policy(model):
    prompts = [[5, 6], LONG]
    with pytest.raises(ValueError, match=TOO_LONG):
        model.generate(prompts, 6)
    cropped = model.generate(prompts, 6, long_prompt="crop", seed=1)
    assert cropped == model.generate([[5, 6], LONG[-10:]], 6, seed=1)
    with pytest.raises(ValueError, match="long_prompt"):
        model.generate(prompts, 6, long_prompt="slide")


def test_only_real_tokens_count_not_padding(model):
    """A (batch, width) array padded wider than the window leaves room
    for is fine when each prompt's real length fits."""
    ids = np.zeros((2, 14), "int32")
    ids[0, :3] = [4, 5, 6]
    ids[1, :10] = np.arange(1, 11)
    padded = sample(model, ids, 6, prompt_lengths=[3, 10], seed=2)
    listed = sample(model, [[4, 5, 6], list(range(1, 11))], 6, seed=2)
    np.testing.assert_array_equal(padded[0], listed[0])
    with pytest.raises(ValueError, match="Prompt 1 has 11 tokens"):
        sample(model, ids, 6, prompt_lengths=[3, 11])
