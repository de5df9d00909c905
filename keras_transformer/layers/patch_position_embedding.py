"""The Vision Transformer's class token and learned patch positions."""

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers._initializers import distinct


@keras.saving.register_keras_serializable(package="keras_transformer")
class PatchPositionEmbedding(keras.layers.Layer):
    """Adds learned positions to patch tokens and prepends a class token.

    The class token is a learned vector placed before the patches; after
    the encoder, its output summarizes the image for the classifier. Each
    of the `rows * cols` patches (and the class token) gets a learned
    position vector. At another image size the patch grid changes, and the
    grid of position vectors is resized (bicubic) to it, so a model trained
    on 32-pixel images still runs on 48-pixel ones.

    Args:
        grid_size: `(rows, cols)` of patches the positions are learned for.
        use_class_token: bool. Prepend the class token. Defaults to `True`.
        embeddings_initializer: initializer of both tables. Defaults to
            `RandomNormal(stddev=0.02)`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: `(batch, rows * cols, d_model)` patch tokens.
        grid_size: `(rows, cols)` of these patches, when it differs from the
            training grid.

    Returns:
        `(batch, 1 + rows * cols, d_model)` with the class token first, or
        `(batch, rows * cols, d_model)` without it.

    Example:

    >>> import numpy as np
    >>> layer = PatchPositionEmbedding(grid_size=(2, 2))
    >>> tuple(layer(np.zeros((3, 4, 8), "float32")).shape)
    (3, 5, 8)
    >>> tuple(layer(np.zeros((3, 9, 8), "float32"), grid_size=(3, 3)).shape)
    (3, 10, 8)
    """

    def __init__(
        self,
        grid_size,
        use_class_token=True,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            not isinstance(grid_size, (tuple, list))
            or len(grid_size) != 2
            or not all(isinstance(s, int) and s > 0 for s in grid_size)
        ):
            raise ValueError(
                "`grid_size` must be two positive integers (rows, cols). "
                f"Received: grid_size={grid_size!r}"
            )
        self.grid_size = tuple(grid_size)
        self.use_class_token = bool(use_class_token)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
            or keras.initializers.RandomNormal(stddev=0.02)
        )

    def build(self, inputs_shape):
        _validation.check_rank(self.name, "inputs", inputs_shape, 3)
        d_model = inputs_shape[-1]
        rows, cols = self.grid_size
        extra = 1 if self.use_class_token else 0
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(extra + rows * cols, d_model),
            initializer=self.embeddings_initializer,
        )
        if self.use_class_token:
            self.class_token = self.add_weight(
                name="class_token",
                shape=(d_model,),
                initializer=distinct(self.embeddings_initializer, 1),
            )

    def call(self, inputs, grid_size=None):
        grid_size = tuple(grid_size or self.grid_size)
        length = inputs.shape[1]
        if length is not None and length != grid_size[0] * grid_size[1]:
            raise ValueError(
                f"{self.name} expects rows * cols patch tokens. Received: "
                f"{length} tokens for grid_size={grid_size}"
            )
        table = ops.cast(self.position_embedding, inputs.dtype)
        start = 1 if self.use_class_token else 0
        positions = self._resized(table[start:], grid_size)
        x = ops.add(inputs, positions[None])
        if not self.use_class_token:
            return x
        token = ops.cast(self.class_token, inputs.dtype) + table[0]
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(
            token[None, None], (batch, 1, inputs.shape[-1])
        )
        return ops.concatenate([token, x], axis=1)

    def _resized(self, grid_table, grid_size):
        if grid_size == self.grid_size:
            return grid_table
        rows, cols = self.grid_size
        d_model = grid_table.shape[-1]
        image = ops.reshape(grid_table, (1, rows, cols, d_model))
        image = ops.image.resize(
            ops.cast(image, "float32"), grid_size, interpolation="bicubic"
        )
        resized = ops.reshape(image, (grid_size[0] * grid_size[1], d_model))
        return ops.cast(resized, grid_table.dtype)

    def compute_output_shape(self, inputs_shape):
        extra = 1 if self.use_class_token else 0
        length = inputs_shape[1]
        return (
            inputs_shape[0],
            None if length is None else length + extra,
            inputs_shape[2],
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": list(self.grid_size),
                "use_class_token": self.use_class_token,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
