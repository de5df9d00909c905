import numpy as np

from keras_transformer.layers import look_ahead_mask
from keras_transformer.layers import padding_mask


def test_look_ahead_mask_is_lower_triangular():
    np.testing.assert_array_equal(
        look_ahead_mask(5), np.tril(np.ones((5, 5), bool))
    )


def test_look_ahead_mask_with_offset_for_a_cache():
    # Two new queries at positions 3 and 4 over a cache of 6 slots.
    expected = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
    np.testing.assert_array_equal(look_ahead_mask(2, 6, offset=3), expected)


def test_padding_mask():
    ids = np.array([[4, 5, 1, 1]])
    np.testing.assert_array_equal(
        padding_mask(ids, pad_id=1), [[True, True, False, False]]
    )
