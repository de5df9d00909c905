import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.models import Transformer

CONFIG = dict(
    src_vocab_size=20,
    tgt_vocab_size=24,
    num_layers=2,
    d_model=16,
    num_heads=4,
    d_ff=32,
    dropout_rate=0.0,
    max_length=12,
)


def source(batch=3, length=7, seed=0):
    """Random ids in [4, 20) with rows padded (0) to different lengths."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 20, size=(batch, length)).astype("int32")
    for row in range(batch):
        ids[row, length - row :] = 0
    return ids


@pytest.mark.parametrize("norm_first", [False, True])
def test_saves_and_reloads_without_custom_objects(tmp_path, norm_first):
    model = Transformer(**CONFIG, norm_first=norm_first, position="learned")
    src, tgt = source(), source(length=5, seed=1)
    expected = ops.convert_to_numpy(model((src, tgt)))
    path = os.path.join(tmp_path, "transformer.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded((src, tgt))), expected, atol=1e-5
    )
    assert reloaded.get_config() == model.get_config()


def test_padding_contents_do_not_change_real_positions():
    """Masks hold: padding is id 0, derived from the ids, so how much of it
    a batch carries (on the source side or the target side) must not
    change a real position's logits."""
    model = Transformer(**CONFIG)
    src, tgt = source(), source(length=5, seed=1)
    logits = ops.convert_to_numpy(model((src, tgt)))
    real = tgt != 0
    # Three more padded source positions per row.
    changed = model((np.pad(src, ((0, 0), (0, 3))), tgt))
    np.testing.assert_allclose(
        ops.convert_to_numpy(changed)[real], logits[real], atol=1e-5
    )
    # Three more padded target positions per row.
    changed = ops.convert_to_numpy(model((src, np.pad(tgt, ((0, 0), (0, 3))))))
    np.testing.assert_allclose(changed[:, :5][real], logits[real], atol=1e-5)
    # A row alone equals the row in its padded batch.
    alone = model((src[2:3, :5], tgt[2:3, : int(real[2].sum())]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(alone)[0],
        logits[2, : int(real[2].sum())],
        atol=1e-5,
    )


def test_a_position_does_not_see_later_targets():
    """Teacher forcing is honest: the logits at position i only depend on
    target tokens 0..i (the look-ahead mask)."""
    model = Transformer(**CONFIG)
    src, tgt = source(), source(length=6, seed=1)
    tgt[:, :] = np.maximum(tgt, 4)
    changed = tgt.copy()
    changed[:, 3:] = 5
    a = ops.convert_to_numpy(model((src, tgt)))
    b = ops.convert_to_numpy(model((src, changed)))
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-5)
    assert not np.allclose(a[:, 3:], b[:, 3:], atol=1e-3)


def test_decode_steps_reproduce_teacher_forced_logits():
    model = Transformer(**CONFIG, norm_first=True)
    src = source()
    tgt = np.maximum(source(length=6, seed=1), 4)
    full = ops.convert_to_numpy(model((src, tgt)))
    state = model.start_decoding(src, max_length=6)
    for i in range(6):
        logits, state = model.decode_step(state, tgt[:, i : i + 1], i)
        np.testing.assert_allclose(
            ops.convert_to_numpy(logits), full[:, i], atol=1e-4
        )


def test_logits_are_float32_under_mixed_precision():
    model = Transformer(**CONFIG)
    src, tgt = source(), source(length=5, seed=1)
    expected = ops.convert_to_numpy(model((src, tgt)))
    for policy in ("mixed_float16", "mixed_bfloat16"):
        mixed = Transformer(**CONFIG, dtype=policy)
        mixed.build()
        mixed.set_weights(model.get_weights())
        logits = mixed((src, tgt))
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
        np.testing.assert_allclose(
            ops.convert_to_numpy(logits), expected, atol=0.15
        )


def test_trains_with_teacher_forcing():
    from keras_transformer.losses import MaskedSparseCategoricalCrossentropy

    model = Transformer(**CONFIG)
    model.compile(
        keras.optimizers.Adam(1e-2), MaskedSparseCategoricalCrossentropy()
    )
    # Copy task: the target is the source.
    src = np.maximum(source(batch=16, length=6, seed=2), 4)
    src[:, 0], src[:, -1] = 2, 3
    x, y = (src, src[:, :-1]), src[:, 1:]
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0]


@pytest.mark.parametrize(
    "inputs, message",
    [
        (np.zeros((2, 3, 1), "int32"), "integer ids"),
        (np.zeros((2, 3), "float32"), "integer"),
    ],
)
def test_bad_ids_get_a_clear_error(inputs, message):
    model = Transformer(**CONFIG)
    with pytest.raises(ValueError, match=message):
        model.encode(inputs)


def test_bad_arguments_get_a_clear_error():
    with pytest.raises(ValueError, match="divisible|divide"):
        Transformer(**{**CONFIG, "num_heads": 3})
    with pytest.raises(ValueError, match="max_length"):
        Transformer(**CONFIG).start_decoding(source(), max_length=13)
    with pytest.raises(ValueError, match="source"):
        Transformer(**CONFIG)(source())
