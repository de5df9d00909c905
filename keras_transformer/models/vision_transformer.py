"""Vision Transformer (Dosovitskiy et al., 2021): an image as a sequence
of patches, classified from a class token."""

import keras
from keras import ops

from keras_transformer.layers import _validation
from keras_transformer.layers._quantization import config_dtype
from keras_transformer.layers._quantization import float32_policy
from keras_transformer.layers.dropout import Dropout
from keras_transformer.layers.encoder_layer import EncoderLayer
from keras_transformer.layers.patch_embedding import PatchEmbedding
from keras_transformer.layers.patch_position_embedding import (
    PatchPositionEmbedding,
)
from keras_transformer.models._boundary import InputChecks
from keras_transformer.models._lora import LoRA


def _pair(name, value):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(
            f"`{name}` must be an int or (height, width). "
            f"Received: {name}={value!r}"
        )
    for side in pair:
        _validation.check_positive_int(name, side)
    return pair


@keras.saving.register_keras_serializable(package="keras_transformer")
class VisionTransformer(LoRA, InputChecks, keras.Model):
    """Image classifier: patches -> class token + positions -> encoder ->
    layer norm -> linear head on the class token.

    Pixels are expected in [0, 255] (any float or integer dtype) and are
    rescaled to [-1, 1] inside the model, so a saved model takes raw images.

    Args:
        image_size: int or `(height, width)` the positions are learned for.
            Other sizes that are multiples of `patch_size` also work: the
            position grid is resized.
        patch_size: int. Side of a square patch; must divide `image_size`.
        num_classes: int. Number of output logits.
        num_layers: int. Encoder blocks.
        d_model: int. Token width.
        num_heads: int. Attention heads; must divide `d_model`.
        d_ff: int. Width of the feed-forward layers.
        dropout_rate: float in [0, 1). Defaults to `0.1`.
        channels: int. Image channels. Defaults to `3`.
        norm_first: bool. Pre-norm blocks, the usual choice for ViT.
            Defaults to `True`.
        layer_norm_epsilon: float. Defaults to `1e-6`.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Call arguments:
        images: `(batch, height, width, channels)`.
        return_attention_scores: bool. Also return a list with each
            encoder layer's attention weights
            `(batch, num_heads, 1 + patches, 1 + patches)`; index 0 is the
            class token.
        training: bool. Enables dropout.

    Returns:
        Float32 logits `(batch, num_classes)`, or `(logits, attention)`.

    Checks: images of the wrong rank, channels or size are a `ValueError`
    when the model is called or traced; `fit`, `evaluate` and
    `*_on_batch` check sparse labels against `[0, num_classes)` before
    Keras compiles the step (a `tf.data.Dataset` batch by batch).

    Example:

    >>> import numpy as np
    >>> model = VisionTransformer(image_size=8, patch_size=4, num_classes=3,
    ...                           num_layers=1, d_model=8, num_heads=2,
    ...                           d_ff=16, channels=1)
    >>> tuple(model(np.zeros((2, 8, 8, 1))).shape)
    (2, 3)
    """

    def __init__(
        self,
        image_size,
        patch_size,
        num_classes,
        num_layers,
        d_model,
        num_heads,
        d_ff,
        dropout_rate=0.1,
        channels=3,
        norm_first=True,
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = _pair("image_size", image_size)
        self.patch_size = _validation.check_positive_int(
            "patch_size", patch_size
        )
        self.num_classes = _validation.check_positive_int(
            "num_classes", num_classes
        )
        self.num_layers = _validation.check_positive_int(
            "num_layers", num_layers
        )
        self.d_model = _validation.check_positive_int("d_model", d_model)
        self.num_heads = _validation.check_positive_int("num_heads", num_heads)
        _validation.check_divisible(d_model, num_heads)
        self.d_ff = _validation.check_positive_int("d_ff", d_ff)
        self.dropout_rate = _validation.check_rate("dropout_rate", dropout_rate)
        self.channels = _validation.check_positive_int("channels", channels)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

        policy = self.dtype_policy
        self._rescaling = keras.layers.Rescaling(
            1.0 / 127.5, offset=-1.0, dtype=policy, name="rescaling"
        )
        self._patch_embedding = PatchEmbedding(
            patch_size, d_model, dtype=policy, name="patch_embedding"
        )
        self.grid_size = self._patch_embedding.grid_size(self.image_size)
        self._position_embedding = PatchPositionEmbedding(
            self.grid_size, dtype=policy, name="position_embedding"
        )
        self._dropout = Dropout(
            self.dropout_rate, dtype=policy, name="embedding_dropout"
        )
        self._encoder_layers = [
            EncoderLayer(
                d_model,
                num_heads,
                d_ff,
                dropout_rate=self.dropout_rate,
                norm_first=self.norm_first,
                activation="gelu",
                layer_norm_epsilon=self.layer_norm_epsilon,
                dtype=policy,
                name=f"encoder_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self._final_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="final_norm"
        )
        self._head = keras.layers.Dense(
            num_classes, dtype=float32_policy(self.dtype_policy), name="head"
        )

    def build(self, images_shape=None):
        shape = (None,) + self.image_size + (self.channels,)
        self._rescaling.build(shape)
        self._patch_embedding.build(shape)
        rows, cols = self.grid_size
        tokens = (None, rows * cols, self.d_model)
        self._position_embedding.build(tokens)
        sequence = (None, 1 + rows * cols, self.d_model)
        for layer in self._encoder_layers:
            layer.build(sequence)
        self._final_norm.build(sequence)
        self._head.build((None, self.d_model))
        self.built = True

    def call(self, images, training=None, return_attention_scores=False):
        shape = images.shape
        if len(shape) != 4 or shape[-1] != self.channels:
            raise ValueError(
                f"{self.name} expects images (batch, height, width, "
                f"{self.channels}). Received: images.shape={tuple(shape)}"
            )
        grid = self._patch_embedding.grid_size(shape[1:])
        x = self._patch_embedding(self._rescaling(images))
        x = self._position_embedding(x, grid_size=grid)
        x = self._dropout(x, training=training)
        attention = []
        for layer in self._encoder_layers:
            if return_attention_scores:
                x, scores = layer(
                    x, return_attention_scores=True, training=training
                )
                attention.append(scores)
            else:
                x = layer(x, training=training)
        x = self._final_norm(x[:, 0])
        logits = self._head(x)
        if return_attention_scores:
            return logits, attention
        return logits

    def _input_rules(self, x, y):
        """The labels `fit`, `evaluate`, ... check: sparse labels (one per
        image, integer dtype or `(batch,)`/`(batch, 1)`) in
        `[0, num_classes)`; one-hot targets are left to the loss. Images
        are checked by `call` (shape, size) when Keras traces it."""
        if y is None or not hasattr(y, "shape") and not isinstance(y, list):
            return []
        shape = tuple(y.shape) if hasattr(y, "shape") else None
        dtype = keras.backend.standardize_dtype(getattr(y, "dtype", "int64"))
        sparse = dtype.startswith(("int", "uint")) or (
            shape is not None
            and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))
        )
        if not sparse:
            return []
        return [("y", y, "labels", ("num_classes", self.num_classes))]

    def class_token_attention(self, images):
        """Attention of the class token to each patch in the last layer,
        averaged over heads: `(batch, rows, cols)` for these images."""
        _, attention = self(images, return_attention_scores=True)
        rows, cols = self._patch_embedding.grid_size(images.shape[1:])
        weights = ops.mean(ops.cast(attention[-1], "float32"), axis=1)
        return ops.reshape(weights[:, 0, 1:], (-1, rows, cols))

    def get_config(self):
        config = super().get_config()
        config["dtype"] = config_dtype(self)
        config.update(
            {
                "image_size": list(self.image_size),
                "patch_size": self.patch_size,
                "num_classes": self.num_classes,
                "num_layers": self.num_layers,
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "d_ff": self.d_ff,
                "dropout_rate": self.dropout_rate,
                "channels": self.channels,
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
