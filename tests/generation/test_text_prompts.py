"""`GPT.generate` with string prompts: the tokenizers are built on
tensorflow-text, so this module runs where TensorFlow is installed."""

import pytest

from keras_transformer.models import GPT

pytestmark = pytest.mark.tensorflow


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


def test_gpt_generate_takes_and_returns_strings_with_a_tokenizer(model):
    from keras_transformer.text import CharTokenizer

    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvw")  # 23 characters
    prompts = ["abc", "hello"]
    ids = [tokenizer.tokenize(p).flat_values.numpy().tolist() for p in prompts]
    expected = [
        "".join(tokenizer.characters[i] for i in row)
        for row in model.generate(ids, 6, seed=2)
    ]
    out = model.generate(prompts, 6, tokenizer=tokenizer, seed=2)
    assert out == expected
    assert model.generate("abc", 6, tokenizer=tokenizer, seed=2) == out[0]
    with pytest.raises(ValueError, match="need the model's `tokenizer`"):
        model.generate(prompts, 6)
