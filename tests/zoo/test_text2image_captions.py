import numpy as np
import pytest

from zoo.text2image import captions


def test_the_held_out_wording_is_new_but_its_words_are_known():
    vocab = captions.Vocabulary(num_codes=16)
    held_out = captions.caption(7, captions.HELD_OUT_TEMPLATE)
    trained = {
        captions.caption(d, t)
        for d in range(10)
        for t in captions.TRAIN_TEMPLATES
    }
    assert held_out not in trained
    assert vocab.unknown_words(held_out) == []
    train_words = {w for c in trained for w in c.split()}
    assert set(held_out.split()) <= train_words


def test_sequences_put_caption_bos_and_shifted_codes_in_place():
    vocab = captions.Vocabulary(num_codes=16)
    codes = np.arange(2 * 4).reshape(2, 2, 2) % 16
    texts = ["a handwritten seven", "seven written by hand"]
    seq = vocab.sequences(texts, codes)
    assert seq.shape == (2, captions.CAPTION_LENGTH + 1 + 4)
    assert seq.dtype == np.int32
    caption_ids = seq[0, : captions.CAPTION_LENGTH]
    # Left-padded, so that the image starts at the same position always.
    assert list(caption_ids[:5]) == [captions.PAD] * 5
    words = [vocab.words[i] for i in caption_ids[5:]]
    assert words == ["a", "handwritten", "seven"]
    assert (seq[:, captions.CAPTION_LENGTH] == captions.BOS_IMAGE).all()
    np.testing.assert_array_equal(
        vocab.image_codes(seq[:, -4:]), codes.reshape(2, 4)
    )
    assert seq[:, -4:].min() >= vocab.image_offset
    assert seq.max() < vocab.size
    np.testing.assert_array_equal(vocab.prompt(texts[0])[0], seq[0, :-4])


def test_loss_weights_keep_the_image_and_weigh_the_text():
    vocab = captions.Vocabulary(num_codes=16)
    seq = vocab.sequences(["the digit one"], np.zeros((1, 2, 2), int))
    weights = captions.loss_weights(seq, cells=4, text_weight=0.125)
    targets = seq[0, 1:]
    assert weights.shape == targets[None].shape
    np.testing.assert_array_equal(weights[0, -4:], 1.0)
    np.testing.assert_array_equal(weights[0][targets == captions.PAD], 0.0)
    words = (targets != captions.PAD) & (
        np.arange(len(targets)) < len(targets) - 4
    )
    np.testing.assert_array_equal(weights[0][words], 0.125)
    assert captions.loss_weights(seq, 4)[0, :-4].sum() == 0


def test_bad_captions_and_codes_are_named():
    vocab = captions.Vocabulary(num_codes=16)
    with pytest.raises(ValueError, match="empty"):
        vocab.encode_caption("   ")
    with pytest.raises(ValueError, match="at most"):
        vocab.encode_caption("one two three four five six seven eight nine")
    with pytest.raises(ValueError, match="codes"):
        vocab.sequences(["one"], np.full((1, 2, 2), 16))
    assert vocab.encode_caption("a purple seven")[-2] == captions.UNKNOWN
