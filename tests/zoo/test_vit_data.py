"""The ViT recipes' augmentation: random erasing fills one box of each
image it touches with noise and leaves the rest of the image alone."""

import dataclasses

import numpy as np

from zoo.vit import config
from zoo.vit import data as vit_data


def first_batch(cfg, data):
    train = vit_data.make_pipelines(cfg, data, seed=0, batch_size=64)[0]
    images, labels = next(iter(train))
    return images.numpy(), labels.numpy()


def test_erasing_fills_one_box_per_image():
    base = dataclasses.replace(
        config.PRESETS["digits-tiny"], translate=0.0, flip=False, erase=0.0
    )
    # Grey 32x32 images (the smallest box is 2% of them, 20 pixels): the
    # noise, clipped to [0, 255], is never exactly 100, so the pixels
    # that changed are exactly the erased box.
    x = np.full((300, 32, 32, 1), 100, "uint8")
    y = np.arange(300) % 10
    data = ((x, y), (x[:10], y[:10]))
    plain, labels = first_batch(base, data)
    erased, erased_labels = first_batch(
        dataclasses.replace(base, erase=1.0), data
    )
    np.testing.assert_array_equal(labels, erased_labels)
    assert np.all(plain == 100)
    for after in erased:
        changed = np.any(after != 100, axis=-1)
        rows, cols = np.nonzero(changed)
        assert rows.size, "an image was not erased"
        box = np.zeros_like(changed)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        # One solid box, smaller than the image, of values in range.
        np.testing.assert_array_equal(changed, box)
        assert box.sum() < box.size
        assert np.all((after >= 0) & (after <= 255))
