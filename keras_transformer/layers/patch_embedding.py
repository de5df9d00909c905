"""Cutting an image into patches and projecting each to a token vector."""

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers._quantization import config_dtype


@keras.saving.register_keras_serializable(package="keras_transformer")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into non-overlapping `patch_size x patch_size` patches
    and maps each flattened patch linearly to a `d_model` vector.

    This is how a Vision Transformer reads an image as a sequence: a
    `224 x 224` image with 16-pixel patches becomes 196 tokens. The patches
    are taken row by row, left to right, so token `r * grid_width + c` is
    the patch in row `r`, column `c`.

    Args:
        patch_size: int. Side of a square patch, in pixels.
        d_model: int. Width of every token vector.
        kernel_initializer: initializer of the projection.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`; height and
            width must be multiples of `patch_size`.

    Returns:
        `(batch, (height / patch_size) * (width / patch_size), d_model)`.

    Example:

    >>> import numpy as np
    >>> layer = PatchEmbedding(patch_size=4, d_model=16)
    >>> tuple(layer(np.zeros((2, 8, 12, 3), "float32")).shape)
    (2, 6, 16)
    """

    def __init__(
        self, patch_size, d_model, kernel_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.patch_size = _validation.check_positive_int(
            "patch_size", patch_size
        )
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self._projection = keras.layers.Dense(
            d_model,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="projection",
        )

    def grid_size(self, image_shape):
        """`(rows, columns)` of patches for an image shape `(h, w, ...)`,
        with a clear error when a side is not a multiple of the patch."""
        height, width = image_shape[0], image_shape[1]
        for name, side in (("height", height), ("width", width)):
            if side is None or side % self.patch_size:
                raise ValueError(
                    f"Image {name} must be a known multiple of `patch_size`. "
                    f"Received: image shape {tuple(image_shape)}, "
                    f"patch_size={self.patch_size}"
                )
        return height // self.patch_size, width // self.patch_size

    def build(self, inputs_shape):
        _validation.check_rank(self.name, "inputs", inputs_shape, 4)
        self.grid_size(inputs_shape[1:])
        channels = inputs_shape[-1]
        self._projection.build((None, self.patch_size**2 * channels))

    def call(self, inputs):
        rows, cols = self.grid_size(inputs.shape[1:])
        p, channels = self.patch_size, inputs.shape[-1]
        x = ops.reshape(inputs, (-1, rows, p, cols, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        x = ops.reshape(x, (-1, rows * cols, p * p * channels))
        return self._projection(x)

    def compute_output_shape(self, inputs_shape):
        rows, cols = self.grid_size(inputs_shape[1:])
        return (inputs_shape[0], rows * cols, self.d_model)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "patch_size": self.patch_size,
                "d_model": self.d_model,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
