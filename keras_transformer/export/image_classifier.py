"""Encoded images in, classes out: decoding, colour conversion, resizing
and a trained Vision Transformer in one TensorFlow graph, saved as a
SavedModel."""

import math
import numbers
import pathlib

import tensorflow as tf

from keras_transformer.models import VisionTransformer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# ITU-R BT.601 luma, the weights of `tf.image.rgb_to_grayscale`.
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)


class ImageClassifier(tf.Module):
    """A trained `VisionTransformer` with its class labels, as a function
    from a batch of PNG or JPEG files (their bytes) to class
    probabilities, the predicted class and its label.

    Each image is decoded to 8-bit pixels (0..255; a 16-bit PNG is scaled
    down, an alpha channel is dropped), converted to the model's channels
    (RGB to grey by the luma weights of `tf.image.rgb_to_grayscale`, grey
    to RGB by repeating it), resized to the model's `image_size` (bilinear
    with antialiasing; an image of that size is left as it is) and mapped
    linearly from 0..255 onto `input_range`, the pixel range the model was
    trained on. Bytes that are not a PNG or JPEG file are an error: from
    Python (`__call__`, `pixels` called eagerly) a `ValueError` naming the
    image; in the SavedModel's graph an assert fails the call with that
    message (an `InvalidArgumentError`), as does a damaged file.

    Args:
        model: a `keras_transformer.models.VisionTransformer` with 1 or 3
            channels.
        labels: sequence of `num_classes` distinct strings, the name of
            each class in the order of the model's outputs.
        input_range: `(low, high)`, the pixel values the model was trained
            on for black and white. Defaults to `(0.0, 255.0)`, the range
            `VisionTransformer` documents (it rescales to [-1, 1] itself);
            `(0.0, 1.0)` for a model trained on images divided by 255.
        name: optional module name.

    Example:

    >>> import numpy as np
    >>> from keras_transformer.models import VisionTransformer
    >>> model = VisionTransformer(image_size=8, patch_size=4, num_classes=2,
    ...                           num_layers=1, d_model=8, num_heads=2,
    ...                           d_ff=16, channels=1)
    >>> classifier = ImageClassifier(model, ["cat", "dog"])
    >>> png = tf.io.encode_png(np.zeros((16, 16, 3), "uint8")).numpy()
    >>> out = classifier([png])
    >>> out["probabilities"].shape, out["label"] in (["cat"], ["dog"])
    ((1, 2), True)
    """

    def __init__(self, model, labels, input_range=(0.0, 255.0), name=None):
        super().__init__(name=name)
        if not isinstance(model, VisionTransformer):
            raise TypeError(
                "ImageClassifier wraps a keras_transformer.models."
                f"VisionTransformer. Received: model={type(model).__name__}"
            )
        if model.channels not in (1, 3):
            raise ValueError(
                "ImageClassifier reads grey (1 channel) or RGB (3 channels) "
                f"images. Received: a model with channels={model.channels}"
            )
        self.labels = _check_labels(labels, model.num_classes)
        self.input_range = _check_input_range(input_range)
        if not model.built:
            model.build((None, *model.image_size, model.channels))
        self.model = model
        self.image_size = tuple(model.image_size)
        self.channels = model.channels

    def pixels(self, images):
        """Encoded images `(batch,)` -> float32 pixels `(batch, height,
        width, channels)`, as the model takes them."""
        images = self._check_formats(images)
        height, width = self.image_size
        return tf.map_fn(
            self._decode,
            images,
            fn_output_signature=tf.TensorSpec(
                [height, width, self.channels], tf.float32
            ),
        )

    def _decode(self, data):
        image = tf.io.decode_image(data, expand_animations=False)
        image = tf.cast(image, tf.float32)
        colour = tf.shape(image)[-1] >= 3  # 2 and 4 carry an alpha channel
        image = image[:, :, : tf.where(colour, 3, 1)]
        if self.channels == 1:
            image = tf.cond(
                colour,
                lambda: tf.reduce_sum(
                    image * tf.constant(LUMA_WEIGHTS), -1, keepdims=True
                ),
                lambda: image,
            )
        else:
            image = tf.cond(
                colour, lambda: image, lambda: tf.tile(image, [1, 1, 3])
            )
        image = tf.ensure_shape(image, [None, None, self.channels])
        image = tf.cond(
            tf.reduce_all(tf.shape(image)[:2] == self.image_size),
            lambda: image,
            lambda: tf.image.resize(image, self.image_size, antialias=True),
        )
        low, high = self.input_range
        return image * ((high - low) / 255.0) + low

    @staticmethod
    def _check_formats(images):
        is_png = tf.strings.substr(images, 0, len(PNG_SIGNATURE)) == (
            PNG_SIGNATURE
        )
        is_jpeg = tf.strings.substr(images, 0, len(JPEG_SIGNATURE)) == (
            JPEG_SIGNATURE
        )
        known = is_png | is_jpeg
        if tf.executing_eagerly():
            bad = [i for i, ok in enumerate(known.numpy()) if not ok]
            if bad:
                first = images.numpy()[bad[0]][:8]
                raise ValueError(
                    f"Image {bad[0]} of the batch is not a PNG or JPEG file "
                    f"(it starts with {first!r}). Received: {len(bad)} of "
                    f"{len(known)} images in another format"
                )
            return images
        first = tf.argmin(tf.concat([tf.cast(known, tf.int32), [0]], 0))
        check = tf.debugging.Assert(
            tf.reduce_all(known),
            [
                tf.strings.format(
                    "Image {} of the batch is not a PNG or JPEG file.", first
                )
            ],
        )
        with tf.control_dependencies([check]):
            return tf.identity(images)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(self, images):
        """The SavedModel signature: encoded images `(batch,)` ->
        `{"probabilities": (batch, num_classes) float32,
        "class_index": (batch,) int64, "label": (batch,) string}`."""
        logits = self.model(self.pixels(images), training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
        index = tf.argmax(probabilities, axis=-1)
        return {
            "probabilities": probabilities,
            "class_index": index,
            "label": tf.gather(tf.constant(self.labels), index),
        }

    def __call__(self, images):
        """`classify` from Python: `images` a `bytes` or a list of them;
        the same dict as NumPy arrays, labels as a list of `str`."""
        batch = [images] if isinstance(images, bytes) else list(images)
        for i, data in enumerate(batch):
            if not isinstance(data, bytes):
                raise ValueError(
                    "ImageClassifier takes the bytes of image files. "
                    f"Received {type(data).__name__} at position {i}"
                )
        images = tf.constant(batch, tf.string, shape=[len(batch)])
        self._check_formats(images)  # eagerly: an error naming the image
        out = {k: v.numpy() for k, v in self.classify(images).items()}
        out["label"] = [t.decode("utf-8") for t in out["label"].tolist()]
        return out

    def export(self, path):
        """Writes a SavedModel whose `serving_default` signature maps
        `{"images": encoded images (batch,)}` to `classify`'s dict;
        loading it needs only TensorFlow."""
        path = pathlib.Path(path)
        tf.saved_model.save(
            self, str(path), signatures={"serving_default": self.classify}
        )
        return path


def _check_labels(labels, num_classes):
    if isinstance(labels, str):
        labels = [labels]
    labels = list(labels)
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise ValueError(
                "`labels` must be non-empty strings. "
                f"Received: {label!r} at position {i}"
            )
    if len(labels) != num_classes:
        raise ValueError(
            f"`labels` must name the model's {num_classes} classes. "
            f"Received: {len(labels)} labels"
        )
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise ValueError(
            f"`labels` must be distinct. Received: {repeated} more than once"
        )
    return tuple(labels)


def _check_input_range(input_range):
    try:
        low, high = input_range
        valid = _finite(low) and _finite(high) and low < high
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "`input_range` must be two finite numbers (low, high), "
            "low < high: the pixel values of black and white in training. "
            f"Received: input_range={input_range!r}"
        )
    return float(low), float(high)


def _finite(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
