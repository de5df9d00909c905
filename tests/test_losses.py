import keras
import numpy as np
import pytest

from keras_transformer.losses import MaskedSparseCategoricalCrossentropy
from tests.reference import softmax


def data(seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, 5, 7)).astype("float32")
    labels = rng.integers(1, 7, size=(2, 5))
    labels[0, 3:] = 0
    return labels, logits


def reference(labels, logits, eps=0.0):
    probs = softmax(logits.astype("float64"))
    vocab = logits.shape[-1]
    target = np.eye(vocab)[labels] * (1 - eps) + eps / vocab
    per_token = -np.sum(target * np.log(probs), -1)
    real = labels != 0
    return per_token[real].mean()


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_mean_over_real_tokens(eps):
    labels, logits = data()
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=eps)
    np.testing.assert_allclose(
        float(loss(labels, logits)), reference(labels, logits, eps), rtol=1e-5
    )


def test_padding_logits_do_not_matter():
    labels, logits = data()
    changed = logits.copy()
    changed[0, 3:] = 100.0
    loss = MaskedSparseCategoricalCrossentropy()
    np.testing.assert_allclose(
        float(loss(labels, changed)), float(loss(labels, logits)), rtol=1e-6
    )


def test_matches_keras_without_padding():
    labels, logits = data()
    labels[labels == 0] = 1
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ours = MaskedSparseCategoricalCrossentropy()
    np.testing.assert_allclose(
        float(ours(labels, logits)),
        float(keras_loss(labels, logits)),
        rtol=1e-5,
    )


def test_probabilities_and_sample_weight():
    labels, logits = data()
    probs = softmax(logits)
    loss = MaskedSparseCategoricalCrossentropy(from_logits=False)
    np.testing.assert_allclose(
        float(loss(labels, probs)), reference(labels, logits), rtol=1e-4
    )
    weighted = MaskedSparseCategoricalCrossentropy()
    only_second = float(
        weighted(labels, logits, sample_weight=np.array([0, 1]))
    )
    np.testing.assert_allclose(
        only_second, reference(labels[1:], logits[1:]), rtol=1e-5
    )


def test_config_round_trip_and_errors():
    loss = MaskedSparseCategoricalCrossentropy(pad_id=3, label_smoothing=0.2)
    restored = MaskedSparseCategoricalCrossentropy.from_config(
        loss.get_config()
    )
    assert restored.get_config() == loss.get_config()
    with pytest.raises(ValueError, match=r"label_smoothing=1\.0"):
        MaskedSparseCategoricalCrossentropy(label_smoothing=1.0)
