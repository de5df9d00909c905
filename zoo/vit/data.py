"""The ViT recipes' data: images from `zoo.datasets`, a seeded
train/validation split, shuffled and augmented batches."""

from zoo import datasets


def load(cfg, data_dir=None):
    """`((x_train, y_train), (x_test, y_test))` of `cfg.dataset`."""
    return datasets.load(cfg.dataset, data_dir)


def class_names(dataset):
    if dataset == "cifar10":
        return datasets.CIFAR10_CLASSES
    return tuple(str(i) for i in range(10))


def make_pipelines(cfg, data, seed, batch_size):
    """Seeded train/validation split of the training images, shuffling,
    batching, augmentation with Keras preprocessing layers, prefetch.
    Returns `(train, val, test, steps_per_epoch)`."""
    import keras
    import numpy as np

    (x_train, y_train), (x_test, y_test) = data
    order = np.random.default_rng(seed).permutation(len(x_train))
    val_idx, train_idx = (
        order[: cfg.validation_size],
        order[cfg.validation_size :],
    )
    augment = []
    if cfg.translate:
        augment.append(
            keras.layers.RandomTranslation(
                cfg.translate,
                cfg.translate,
                fill_mode=cfg.translate_fill,
                seed=seed,
            )
        )
    if cfg.flip:
        augment.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if cfg.erase:
        augment.append(
            keras.layers.RandomErasing(
                factor=(cfg.erase, cfg.erase), value_range=(0, 255), seed=seed
            )
        )
    augment = keras.Sequential(augment) if augment else None

    train = batches(
        x_train[train_idx], y_train[train_idx], batch_size, seed, augment
    )
    val = batches(x_train[val_idx], y_train[val_idx], batch_size)
    test = batches(x_test, y_test, batch_size)
    steps = len(train_idx) // batch_size
    return train, val, test, steps


def batches(x, y, batch_size, shuffle_seed=None, augment=None):
    """A batched float32 `tf.data` pipeline of images and labels; shuffled
    (full batches only) when `shuffle_seed` is given, augmented by the
    `augment` layer when given."""
    import tensorflow as tf

    training = shuffle_seed is not None
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(
            len(x), seed=shuffle_seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(
        lambda images, labels: (tf.cast(images, "float32"), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if augment is not None:
        ds = ds.map(
            lambda images, labels: (augment(images, training=True), labels),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)
