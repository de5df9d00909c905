"""An image tokenizer: a small VQ-VAE that turns an image into a grid of
integer codes and the codes back into an image."""

import keras
from keras import layers
from keras import ops

from keras_transformer.layers import VectorQuantizer
from keras_transformer.layers import _validation


@keras.saving.register_keras_serializable(package="keras_transformer")
class VQVAE(keras.Model):
    """Convolutional encoder -> `VectorQuantizer` -> convolutional decoder
    (van den Oord et al., 2017): the image tokenizer of a decoder-only
    text-to-image model, which reads and writes images as rows of codes.

    The encoder halves the image `downsamples` times with stride-2
    convolutions (28x28 -> 7x7 with 2), then projects each position to
    `code_dim`; the quantizer replaces each vector by its nearest codebook
    entry; the decoder mirrors the encoder with transposed convolutions.

    Trained with `fit(images)` (no targets): the loss is the mean squared
    error of the reconstruction in pixels scaled to [0, 1], plus the
    quantizer's commitment loss; the codebook follows its vectors as
    moving averages (see `VectorQuantizer`).

    Args:
        image_size: int or `(height, width)`, each divisible by
            `2 ** downsamples`.
        channels: int. Image channels. Defaults to `1`.
        num_codes: int. Codebook entries. Defaults to `64`.
        code_dim: int. Width of a code vector. Defaults to `32`.
        hidden: int. Channels of the widest convolutions. Defaults to
            `64`.
        downsamples: int. Stride-2 steps. Defaults to `2`.
        commitment_cost: float. Defaults to `0.25`.
        decay: float. The codebook's moving-average decay. Defaults to
            `0.99`.
        **kwargs: `keras.Model` arguments such as `name` and `dtype`.

    Call arguments:
        images: `(batch, height, width, channels)`, pixels in [0, 255].
        training: bool. Updates the codebook.

    Returns:
        The reconstruction, float32 pixels on the [0, 255] scale, not
        clipped (so that training never meets a flat gradient); `decode`
        clips them.

    Example:

    >>> import numpy as np
    >>> vq = VQVAE(image_size=8, num_codes=16, code_dim=4, hidden=8)
    >>> codes = vq.encode(np.zeros((2, 8, 8, 1), "float32"))
    >>> tuple(codes.shape), tuple(vq.decode(codes).shape)
    ((2, 2, 2), (2, 8, 8, 1))
    """

    def __init__(
        self,
        image_size,
        channels=1,
        num_codes=64,
        code_dim=32,
        hidden=64,
        downsamples=2,
        commitment_cost=0.25,
        decay=0.99,
        **kwargs,
    ):
        super().__init__(**kwargs)
        size = (
            (image_size, image_size)
            if isinstance(image_size, int)
            else tuple(image_size)
        )
        check = _validation.check_positive_int
        self.image_size = tuple(check("image_size", s) for s in size)
        self.channels = check("channels", channels)
        self.num_codes = check("num_codes", num_codes)
        self.code_dim = check("code_dim", code_dim)
        self.hidden = check("hidden", hidden)
        self.downsamples = check("downsamples", downsamples)
        factor = 2**self.downsamples
        if any(s % factor for s in self.image_size):
            raise ValueError(
                f"`image_size` must be divisible by 2 ** downsamples = "
                f"{factor}. Received: image_size={image_size}"
            )
        self.grid_size = tuple(s // factor for s in self.image_size)
        self.commitment_cost = float(commitment_cost)
        self.decay = float(decay)

        policy = self.dtype_policy
        conv = dict(padding="same", dtype=policy)
        widths = [max(1, hidden // 2 ** (downsamples - 1 - i))
                  for i in range(downsamples)]  # fmt: skip
        self._encoder = [
            layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype=policy),
            *(
                layers.Conv2D(w, 4, strides=2, activation="relu", **conv)
                for w in widths
            ),
            layers.Conv2D(hidden, 3, activation="relu", **conv),
            layers.Conv2D(code_dim, 1, **conv),
        ]
        self.quantizer = VectorQuantizer(
            num_codes,
            code_dim,
            commitment_cost=commitment_cost,
            decay=decay,
            dtype=policy,
            name="quantizer",
        )
        self._decoder = [
            layers.Conv2D(hidden, 3, activation="relu", **conv),
            *(
                layers.Conv2DTranspose(
                    w, 4, strides=2, activation="relu", **conv
                )  # fmt: skip
                for w in reversed(widths)
            ),
            layers.Conv2D(channels, 3, padding="same", dtype="float32"),
        ]
        self.build((None, *self.image_size, channels))

    def build(self, images_shape):
        x = ops.zeros((1, *self.image_size, self.channels))
        self._pixels(self.quantizer(self._latents(x)))
        self.built = True

    def _latents(self, images):
        x = ops.convert_to_tensor(images)
        if len(x.shape) != 4 or x.shape[-1] != self.channels:
            raise ValueError(
                f"{self.name} expects images (batch, height, width, "
                f"channels={self.channels}). Received: "
                f"images.shape={tuple(x.shape)}"
            )
        for layer in self._encoder:
            x = layer(x)
        return x

    def _pixels(self, latents):
        x = latents
        for layer in self._decoder:
            x = layer(x)
        # The inverse of the input scaling, linear: a sigmoid here let a
        # model of mostly-black images settle on all black, where its
        # gradient vanishes.
        return 127.5 * (ops.cast(x, "float32") + 1.0)

    def call(self, images, training=None):
        latents = self._latents(images)
        return self._pixels(self.quantizer(latents, training=training))

    def encode(self, images):
        """Images -> codes `(batch, rows, cols)`, int32 in
        `[0, num_codes)`, row-major as a sequence model reads them."""
        return self.quantizer.codes(self._latents(images))

    def decode(self, codes):
        """Codes `(batch, rows, cols)` -> images, float32 in [0, 255]."""
        return ops.clip(self._pixels(self.quantizer.lookup(codes)), 0, 255)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        target = ops.cast(x if y is None else y, "float32")
        error = ops.mean(ops.square((target - y_pred) / 255.0))
        for loss in self.losses:  # the commitment loss
            error = error + ops.cast(loss, "float32")
        return error

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            channels=self.channels,
            num_codes=self.num_codes,
            code_dim=self.code_dim,
            hidden=self.hidden,
            downsamples=self.downsamples,
            commitment_cost=self.commitment_cost,
            decay=self.decay,
        )
        return config
