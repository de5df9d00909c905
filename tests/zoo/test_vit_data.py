"""The ViT recipes' augmentation: random erasing fills one box of each
image it touches with noise and leaves the rest of the image alone."""

import dataclasses

import numpy as np

from zoo import datasets
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
    data = datasets.load("digits")
    plain, labels = first_batch(base, data)
    erased, erased_labels = first_batch(
        dataclasses.replace(base, erase=1.0), data
    )
    np.testing.assert_array_equal(labels, erased_labels)
    changed = 0
    for before, after in zip(plain, erased, strict=True):
        inside = np.any(before != after, axis=-1)
        if not inside.any():
            continue  # a box over pixels that were already black
        changed += 1
        rows, cols = np.nonzero(inside)
        box = np.zeros_like(inside)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        # What changed lies in one box, of noise in the pixel range...
        assert np.all((after[box] >= 0) & (after[box] <= 255))
        assert len(np.unique(after[box])) > 1
        # ...and nothing outside it changed.
        np.testing.assert_array_equal(after[~box], before[~box])
    assert changed > len(plain) // 2
