import numpy as np

from keras_transformer.metrics import MaskedAccuracy
from keras_transformer.metrics import Perplexity
from tests.reference import softmax
from tests.test_losses import data


def test_masked_accuracy_counts_real_tokens_only():
    labels, logits = data()
    predicted = logits.argmax(-1)
    real = labels != 0
    metric = MaskedAccuracy()
    metric.update_state(labels, logits)
    np.testing.assert_allclose(
        float(metric.result()), (predicted == labels)[real].mean(), rtol=1e-6
    )
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_perplexity_is_exp_of_mean_cross_entropy():
    labels, logits = data()
    probs = softmax(logits.astype("float64"))
    picked = np.take_along_axis(probs, labels[..., None], -1)[..., 0]
    real = labels != 0
    metric = Perplexity()
    # Two updates accumulate as one token-weighted mean.
    metric.update_state(labels[:1], logits[:1])
    metric.update_state(labels[1:], logits[1:])
    np.testing.assert_allclose(
        float(metric.result()), np.exp(-np.log(picked[real]).mean()), rtol=1e-5
    )


def test_config_round_trip():
    metric = Perplexity(pad_id=2, from_logits=False)
    assert Perplexity.from_config(metric.get_config()).get_config() == (
        metric.get_config()
    )
    acc = MaskedAccuracy(pad_id=5)
    assert MaskedAccuracy.from_config(acc.get_config()).pad_id == 5
