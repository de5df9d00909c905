import numpy as np
import pytest

from keras_transformer.export import TextGenerator
from keras_transformer.generation import sample
from keras_transformer.models import GPT
from keras_transformer.text import CharTokenizer

SETTINGS = dict(temperature=1.0, top_k=5)


@pytest.fixture(scope="module")
def parts():
    tokenizer = CharTokenizer.from_text("abcdefgh ijklmnop\n")
    model = GPT(
        vocab_size=tokenizer.vocab_size,
        max_length=32,
        num_layers=1,
        d_model=16,
        num_heads=2,
        d_ff=32,
        dropout_rate=0.0,
    )
    return model, tokenizer


def expected(model, tokenizer, prompts, n, seed):
    ids = [tokenizer.tokenize(p).flat_values.numpy().tolist() for p in prompts]
    tokens, lengths = sample(model, ids, n, seed=seed, **SETTINGS)
    return [
        tokenizer.detokenize([row[:k]]).numpy()[0].decode()
        for row, k in zip(tokens, lengths, strict=True)
    ]


def test_gives_what_sample_gives(parts):
    model, tokenizer = parts
    generator = TextGenerator(model, tokenizer, 10, seed=3, **SETTINGS)
    prompts = ["abc", "hello pal big", "k"]
    assert generator(prompts) == expected(model, tokenizer, prompts, 10, 3)
    assert generator(prompts, seed=4) == expected(
        model, tokenizer, prompts, 10, 4
    )
    assert generator("abc") == generator(["abc"])[0]


LONG = "ponmlkjih gfedcba\nabcd"  # 22 tokens: 32 - 12 = 20 fit


def test_a_long_prompt_is_the_error_gpt_generate_gives(parts):
    model, tokenizer = parts
    generator = TextGenerator(model, tokenizer, 12, seed=1, **SETTINGS)
    with pytest.raises(ValueError) as from_generate:
        model.generate(["abc", LONG], 12, tokenizer=tokenizer, seed=1)
    with pytest.raises(ValueError) as from_generator:
        generator(["abc", LONG])
    assert str(from_generator.value) == str(from_generate.value)
    assert "Prompt 1 has 22 tokens, more than the 20" in str(
        from_generate.value
    )
    # The exported graph asserts the same limit.
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than"):
        generator.generate(tf.constant([LONG]), tf.constant(1, tf.int32))


def test_a_long_prompt_is_cropped_as_gpt_generate_crops_it(parts):
    model, tokenizer = parts
    generator = TextGenerator(
        model, tokenizer, 12, seed=1, long_prompt="crop", **SETTINGS
    )
    prompts = ["abc", LONG]
    out = generator(prompts)
    assert out == model.generate(
        prompts, 12, tokenizer=tokenizer, seed=1, long_prompt="crop", **SETTINGS
    )
    assert out == generator(["abc", LONG[2:]])  # its last 20 tokens
    with pytest.raises(ValueError, match="long_prompt"):
        TextGenerator(model, tokenizer, 12, long_prompt="left")


def test_bad_inputs_get_clear_errors(parts):
    model, tokenizer = parts
    generator = TextGenerator(model, tokenizer, 8)
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['z'\]"):
        generator("abz")
    with pytest.raises(ValueError, match="Prompt 1 is empty"):
        generator(["ab", ""])
    with pytest.raises(ValueError, match="takes strings"):
        generator([b"ab"])
    with pytest.raises(ValueError, match=r"max_new_tokens.*\[1, 31\]"):
        TextGenerator(model, tokenizer, 32)
    with pytest.raises(ValueError, match="vocab_size=18"):
        TextGenerator(model, CharTokenizer("ab"), 8)
    assert generator([]) == []
    np.testing.assert_equal(generator.prompt_width, 24)
