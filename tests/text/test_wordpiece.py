import numpy as np
import pytest
import tensorflow as tf

from keras_transformer.text import END_ID
from keras_transformer.text import START_ID
from keras_transformer.text import WordPieceTokenizer
from keras_transformer.text import learn_vocabulary
from keras_transformer.text import normalize

CORPUS = [
    "Ein Mann fährt Fahrrad.",
    "Zwei Männer fahren Fahrräder auf der Straße.",
    "Eine Frau liest ein Buch im Park.",
    "Ein Kind spielt mit einem Hund.",
    "Der Hund läuft über die Wiese.",
    "Männer und Frauen sitzen im Café.",
] * 5


@pytest.fixture(scope="module")
def tokenizer():
    vocabulary = learn_vocabulary(CORPUS, vocab_size=200, verbose=False)
    return WordPieceTokenizer(vocabulary)


def test_normalize_lower_cases_unicode_and_composes():
    # "Fa" + combining diaeresis + "hrt": NFC makes it one character.
    decomposed = tf.constant(["ÜBER Straße", "Fa\u0308hrt"])
    assert normalize(decomposed).numpy().tolist() == [
        "über straße".encode(),
        "fährt".encode(),
    ]
    assert normalize(["ÄB"], lower_case=False).numpy()[0] == "ÄB".encode()


def test_learned_vocabulary_starts_with_reserved_tokens():
    vocabulary = learn_vocabulary(CORPUS, vocab_size=200, verbose=False)
    assert vocabulary[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    assert len(vocabulary) <= 200 and len(set(vocabulary)) == len(vocabulary)
    assert "fährt" in vocabulary or "f" in vocabulary
    # A dataset of strings works as well as a list.
    same = learn_vocabulary(
        tf.data.Dataset.from_tensor_slices(CORPUS), 200, verbose=False
    )
    assert same == vocabulary


def test_round_trip_restores_normalized_text(tokenizer):
    ids = tokenizer.tokenize(CORPUS[:6])
    assert all(row[0] == START_ID and row[-1] == END_ID for row in ids.numpy())
    text = tokenizer.detokenize(ids).numpy()
    expected = normalize(CORPUS[:6]).numpy()
    assert text.tolist() == expected.tolist()
    # Dense ids padded with [PAD] give the same strings.
    assert tokenizer.detokenize(ids.to_tensor()).numpy().tolist() == (
        expected.tolist()
    )


def test_unknown_words_become_unk_pieces(tokenizer):
    ids = tokenizer.tokenize(["Ein Zebra"]).numpy()[0]
    tokens = tokenizer.id_to_token(ids).numpy().tolist()
    assert tokens[:2] == [b"[START]", b"ein"]
    assert tokens[-1] == b"[END]" and len(tokens) >= 4


def test_scalar_and_empty_strings(tokenizer):
    assert tokenizer.tokenize("ein Mann").shape[0] == 1
    empty = tokenizer.tokenize(["", "   "]).to_list()
    assert empty == [[START_ID, END_ID], [START_ID, END_ID]]
    assert tokenizer.detokenize([[START_ID, END_ID]]).numpy()[0] == b""


def test_runs_inside_a_graph(tokenizer):
    @tf.function
    def round_trip(strings):
        return tokenizer.detokenize(tokenizer.tokenize(strings))

    out = round_trip(tf.constant(["Ein Hund."])).numpy()
    assert out.tolist() == [b"ein hund."]


def test_save_and_load(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tok")
    loaded = WordPieceTokenizer.load(tmp_path / "tok")
    assert loaded.vocabulary == tokenizer.vocabulary
    np.testing.assert_array_equal(
        loaded.tokenize(CORPUS[:3]).to_tensor(),
        tokenizer.tokenize(CORPUS[:3]).to_tensor(),
    )
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        WordPieceTokenizer.load(tmp_path)


def test_bad_input_gets_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="takes strings"):
        tokenizer.tokenize([1, 2])
    with pytest.raises(ValueError, match="1-D"):
        tokenizer.tokenize([["a"], ["b"]])
    with pytest.raises(ValueError, match="must start with"):
        WordPieceTokenizer(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="duplicate"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[START]", "[END]", "a", "a"])
