import os

import keras
import numpy as np
import pytest

from keras_transformer.schedules import WarmupSchedule


def formula(step, d_model, warmup, scale=1.0):
    s = step + 1
    return scale * d_model**-0.5 * min(s**-0.5, s * warmup**-1.5)


@pytest.mark.parametrize("step", [0, 1, 10, 3999, 4000, 10000, 100000])
def test_equals_formula(step):
    schedule = WarmupSchedule(512, warmup_steps=4000, scale=2.0)
    np.testing.assert_allclose(
        float(schedule(step)), formula(step, 512, 4000, 2.0), rtol=1e-6
    )


def test_peaks_at_warmup_steps_and_is_never_zero():
    schedule = WarmupSchedule(128, warmup_steps=100)
    rates = np.array([float(schedule(step)) for step in range(400)])
    # Step index 99 is the 100th update: s = warmup_steps.
    assert int(np.argmax(rates)) == 99
    assert rates[0] > 0
    np.testing.assert_allclose(rates.max(), (128 * 100) ** -0.5, rtol=1e-6)
    assert np.all(np.diff(rates[:99]) > 0) and np.all(np.diff(rates[99:]) < 0)


def test_saved_inside_a_compiled_model(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(keras.optimizers.Adam(WarmupSchedule(64, 10)), loss="mse")
    x = np.ones((8, 4), "float32")
    model.fit(x, np.zeros((8, 2)), epochs=1, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    schedule = reloaded.optimizer.learning_rate
    # the reloaded optimizer's rate is the schedule, not a constant
    assert isinstance(reloaded.optimizer._learning_rate, WarmupSchedule)
    assert reloaded.optimizer._learning_rate.get_config() == {
        "d_model": 64,
        "warmup_steps": 10,
        "scale": 1.0,
    }
    np.testing.assert_allclose(float(schedule), formula(1, 64, 10), rtol=1e-6)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"warmup_steps=0"):
        WarmupSchedule(64, warmup_steps=0)
    with pytest.raises(ValueError, match=r"d_model=-1"):
        WarmupSchedule(-1)
    with pytest.raises(ValueError, match=r"scale=0"):
        WarmupSchedule(64, scale=0)
