import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_transformer.text import CharTokenizer

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


def test_round_trip_and_ids_are_positions_in_the_sorted_vocabulary():
    tokenizer = CharTokenizer.from_text(TEXT)
    assert tokenizer.characters == sorted(set(TEXT))
    ids = tokenizer.tokenize([TEXT, "hear me"])
    chars = tokenizer.characters
    assert ids[0].numpy().tolist() == [chars.index(c) for c in TEXT]
    text = tokenizer.detokenize(ids).numpy().tolist()
    assert text == [TEXT.encode(), b"hear me"]
    assert tokenizer.tokenize("hear").shape[0] == 1


def test_one_id_per_unicode_character_not_per_byte():
    tokenizer = CharTokenizer.from_text("café ☕ naïve")
    ids = tokenizer.tokenize(["☕ é"])
    assert ids.row_lengths().numpy().tolist() == [3]
    assert tokenizer.detokenize(ids).numpy()[0].decode() == "☕ é"
    tokens = tokenizer.id_to_token(ids).to_list()[0]
    assert [t.decode() for t in tokens] == ["☕", " ", "é"]


def test_unknown_characters_are_named_eagerly_and_dropped_in_a_graph():
    tokenizer = CharTokenizer.from_text("abc ")
    with pytest.raises(
        ValueError, match=r"outside the vocabulary: \['x', 'z'\]"
    ):
        tokenizer.tokenize(["a zx b"])
    traced = tf.function(lambda s: tokenizer.tokenize(s).to_tensor(-1))
    # The vocabulary is " abc": "a zx b" loses z and x.
    np.testing.assert_array_equal(
        traced(tf.constant(["a zx b"])), [[1, 0, 0, 2]]
    )


def test_bad_inputs_get_clear_errors(tmp_path):
    tokenizer = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="takes strings"):
        tokenizer.tokenize(np.array([1, 2]))
    with pytest.raises(ValueError, match="scalar or a 1-D batch"):
        tokenizer.tokenize([["a"]])
    with pytest.raises(ValueError, match=r"Ids must be in \[0, 3\)"):
        tokenizer.detokenize([[0, 5]])
    with pytest.raises(ValueError, match="one character"):
        CharTokenizer(["a", "bc"])
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aba")
    with pytest.raises(ValueError, match="non-empty string"):
        CharTokenizer.from_text("")
    with pytest.raises(FileNotFoundError, match="characters.json"):
        CharTokenizer.load(tmp_path)


def test_saved_and_loaded_tokenizer_gives_the_same_ids(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT + "é\t")
    tokenizer.save(tmp_path / "tok")
    loaded = CharTokenizer.load(tmp_path / "tok")
    assert loaded.characters == tokenizer.characters
    assert (
        loaded.tokenize([TEXT]).to_list()
        == tokenizer.tokenize([TEXT]).to_list()
    )


def test_works_inside_a_savedmodel_loaded_with_tensorflow_only(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    module = tf.Module()
    module.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def round_trip(strings):
        ids = tokenizer.tokenize(strings)
        return {"ids": ids.to_tensor(-1), "text": tokenizer.detokenize(ids)}

    module.round_trip = round_trip
    tf.saved_model.save(module, str(tmp_path / "saved"))
    script = textwrap.dedent(
        f"""
        import sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 (registers the ops)
        loaded = tf.saved_model.load({str(tmp_path / "saved")!r})
        out = loaded.round_trip(tf.constant(["hear me", "speak."]))
        print(out["text"].numpy().tolist())
        assert "keras_transformer" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[b'hear me', b'speak.']" in result.stdout


def test_invalid_utf8_is_named():
    tokenizer = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="String 1 is not valid UTF-8"):
        tokenizer.tokenize(tf.constant([b"ab", b"a\xffb"]))
    # A vocabulary string that looks like a file name is characters.
    assert CharTokenizer("ab.json").vocab_size == 7
