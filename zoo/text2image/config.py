"""Text-to-image presets: every hyper-parameter spelled out, the image
tokenizer's (VQ-VAE) and the GPT's."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Text2ImageConfig:
    dataset: str  # mnist | digits
    image_size: int  # the side images are trained at (digits: enlarged)
    # The image tokenizer (keras_transformer.models.VQVAE), trained first.
    num_codes: int  # the image vocabulary
    code_dim: int
    vq_hidden: int  # widest convolution
    vq_downsamples: int  # the grid is image_size / 2**vq_downsamples
    vq_epochs: int
    vq_batch_size: int
    vq_learning_rate: float
    # The GPT over [caption][BOS_IMAGE][image codes].
    num_layers: int
    d_model: int
    num_heads: int
    d_ff: int
    dropout_rate: float
    epochs: int
    batch_size: int
    learning_rate: float  # AdamW peak, after warmup_steps; cosine to 1/10
    warmup_steps: int
    weight_decay: float
    text_weight: float  # loss weight of the caption's words (images: 1)
    validation_size: int  # training images held out for validation


PRESETS = {
    # MNIST's 8,000 training images (zoo.datasets.load_mnist) as 7x7 grids
    # of 128 codes: 58 tokens a sequence (8 caption, 1 BOS, 49 image).
    "mnist-base": Text2ImageConfig(
        dataset="mnist",
        image_size=28,
        num_codes=128,
        code_dim=32,
        vq_hidden=64,
        vq_downsamples=2,
        vq_epochs=15,
        vq_batch_size=64,
        vq_learning_rate=2e-3,
        num_layers=4,
        d_model=128,
        num_heads=4,
        d_ff=512,
        dropout_rate=0.1,
        epochs=40,
        batch_size=64,
        learning_rate=1e-3,
        warmup_steps=200,
        weight_decay=0.1,
        text_weight=0.0,
        validation_size=500,
    ),
    # Seconds, not quality: scikit-learn's digits enlarged to 16x16, 4x4
    # grids of 32 codes; for tests and a first look (no download).
    "digits-tiny": Text2ImageConfig(
        dataset="digits",
        image_size=16,
        num_codes=32,
        code_dim=16,
        vq_hidden=32,
        vq_downsamples=2,
        vq_epochs=4,
        vq_batch_size=64,
        vq_learning_rate=2e-3,
        num_layers=1,
        d_model=32,
        num_heads=2,
        d_ff=64,
        dropout_rate=0.0,
        epochs=3,
        batch_size=64,
        learning_rate=3e-3,
        warmup_steps=10,
        weight_decay=0.1,
        text_weight=0.0,
        validation_size=144,
    ),
}

DEFAULT_PRESET = {"mnist": "mnist-base", "digits": "digits-tiny"}
