"""keras-hub's ViT (`ViTBackbone`, `ViTImageClassifier`) as our
`VisionTransformer`."""

import numpy as np

from keras_transformer.interop._checks import gelu_form
from keras_transformer.interop._checks import import_keras_hub
from keras_transformer.interop._checks import one_epsilon
from keras_transformer.interop._checks import source_dtype
from keras_transformer.interop._checks import unsupported
from keras_transformer.interop._weights import ATTENTION_PROJECTIONS
from keras_transformer.interop._weights import copy_weights
from keras_transformer.models.vision_transformer import VisionTransformer


def _vit_block(sublayer):
    """keras-hub counts ViT blocks from 1, we count from 0."""
    return lambda m: f"encoder_layer_{int(m[1]) - 1}/{sublayer}/{m[2]}"


# keras-hub ViTBackbone / ViTImageClassifier path -> VisionTransformer path.
_EMBED = "vit_patching_and_embedding"
_BLOCK = r"vit_encoder/transformer_block_(\d+)"
_VIT_RULES = (
    (f"{_EMBED}/class_token", "position_embedding/class_token"),
    (
        f"{_EMBED}/patch_embedding/(kernel|bias)",
        r"patch_embedding/projection/\1",
    ),
    (
        f"{_EMBED}/position_embedding/embeddings",
        "position_embedding/position_embedding",
    ),
    (rf"{_BLOCK}/ln_1/(gamma|beta)", _vit_block("self_attention_norm")),
    (
        rf"{_BLOCK}/mha/((?:query|key|value|attention_output)"
        r"/(?:kernel|bias))",
        _vit_block("self_attention"),
    ),
    (rf"{_BLOCK}/ln_2/(gamma|beta)", _vit_block("feed_forward_norm")),
    (
        rf"{_BLOCK}/mlp/dense_1/(kernel|bias)",
        _vit_block("feed_forward/inner_dense"),
    ),
    (
        rf"{_BLOCK}/mlp/dense_2/(kernel|bias)",
        _vit_block("feed_forward/output_dense"),
    ),
    (r"vit_encoder/ln/(gamma|beta)", r"final_norm/\1"),
    (r"predictions/(kernel|bias)", r"head/\1"),
)
# (patch, patch, channels, d_model) -> (patch * patch * channels, d_model):
# the same order as `PatchEmbedding` flattens a patch; (1, 1, d) -> (d,).
_VIT_RESHAPED = (
    ATTENTION_PROJECTIONS,
    "patch_embedding/projection/kernel",
    "position_embedding/class_token",
)


def _check_vit_classifier(classifier):
    kind = type(classifier).__name__
    if classifier.pooling != "token":
        raise unsupported(
            kind,
            'pooling must be "token" (the class token)',
            classifier.pooling,
        )
    if classifier.intermediate_dim is not None:
        raise unsupported(
            kind,
            "a pre-logits layer (`intermediate_dim`) has no counterpart",
            classifier.intermediate_dim,
        )
    if classifier.activation not in (None, "linear"):
        raise unsupported(
            kind,
            "the head must output logits (activation None)",
            classifier.activation,
        )
    converter = getattr(classifier.preprocessor, "image_converter", None)
    if converter is None:
        return
    # Our model maps pixels in [0, 255] to x / 127.5 - 1 itself.
    channels = classifier.backbone.image_shape[-1]
    scale = np.broadcast_to(
        np.asarray(1.0 if converter.scale is None else converter.scale),
        (channels,),
    )
    offset = np.broadcast_to(
        np.asarray(0.0 if converter.offset is None else converter.offset),
        (channels,),
    )
    if not (
        np.allclose(scale, 1.0 / 127.5, rtol=1e-5)
        and np.allclose(offset, -1.0, rtol=1e-5)
    ):
        raise unsupported(
            kind,
            "its preprocessor must rescale pixels as x / 127.5 - 1, which "
            "VisionTransformer does inside (scale, offset)",
            (converter.scale, converter.offset),
        )


def vision_transformer_from_keras_hub(model, num_classes=None, dtype=None):
    """A `VisionTransformer` with the architecture and weights of a
    keras-hub ViT.

    Both are pre-norm encoders over `[class token; patches] + positions`,
    exact-GELU feed-forwards and a final layer norm, classified from the
    class token. Ours takes pixels in [0, 255] and rescales them to
    `x / 127.5 - 1` inside, which is what keras-hub's ViT preprocessors
    feed the backbone: `ours(images) == keras_hub(images / 127.5 - 1)`.
    Resizing to the model's `image_size` stays the caller's job.

    Args:
        model: a `keras_hub.models.ViTImageClassifier` (backbone and head
            are converted) or a `ViTBackbone` (a new head with
            `num_classes` outputs starts from its initializer, to
            fine-tune).
        num_classes: int. Needed for a backbone; for a classifier, `None`
            or its own number of classes.
        dtype: dtype policy of the new model. Defaults to the source's.

    Returns:
        A built `keras_transformer.models.VisionTransformer`.

    Raises:
        ImportError: keras-hub is not installed.
        TypeError: `model` is not a ViT backbone or image classifier.
        ValueError: a configuration ours cannot reproduce (no class token,
            `"gap"` pooling, a pre-logits layer, a head activation,
            non-square patches, channels-first images, another activation
            or several epsilons, a preprocessor with another pixel scale),
            `num_classes` missing or different, quantized or LoRA weights,
            or a weight without a counterpart.
    """
    keras_hub = import_keras_hub()
    classifier = None
    if isinstance(model, keras_hub.models.ViTImageClassifier):
        classifier, backbone = model, model.backbone
    else:
        backbone = model
    if not isinstance(backbone, keras_hub.models.ViTBackbone):
        raise TypeError(
            "`model` must be a keras_hub.models.ViTBackbone or "
            f"ViTImageClassifier. Received: {type(model).__name__}"
        )
    kind = type(backbone).__name__
    if classifier is not None:
        _check_vit_classifier(classifier)
        if num_classes not in (None, classifier.num_classes):
            raise ValueError(
                "`num_classes` must be None or the classifier's "
                f"{classifier.num_classes}. Received: num_classes={num_classes}"
            )
        num_classes = classifier.num_classes
    elif num_classes is None:
        raise ValueError(
            "A ViTBackbone has no head: pass `num_classes` for a new one, "
            "or convert a ViTImageClassifier. Received: num_classes=None"
        )
    if backbone.data_format != "channels_last":
        raise unsupported(
            kind, "images must be channels-last", backbone.data_format
        )
    if not backbone.use_class_token:
        raise unsupported(kind, "it must use a class token", False)
    patch_rows, patch_cols = backbone.patch_size
    if patch_rows != patch_cols:
        raise unsupported(kind, "patches must be square", backbone.patch_size)
    encoder = backbone.get_layer("vit_encoder")
    blocks = encoder.encoder_layers
    forms = {gelu_form(block.mlp.dense_1.activation) for block in blocks}
    if forms != {"exact"}:
        raise unsupported(kind, "the MLP activation must be exact GELU", forms)
    epsilon = one_epsilon(
        kind,
        [b.layer_norm_epsilon for b in blocks] + [encoder.layer_norm.epsilon],
    )
    height, width, channels = backbone.image_shape
    vit = VisionTransformer(
        image_size=(height, width),
        patch_size=patch_rows,
        num_classes=num_classes,
        num_layers=backbone.num_layers,
        d_model=backbone.hidden_dim,
        num_heads=backbone.num_heads,
        d_ff=backbone.mlp_dim,
        dropout_rate=backbone.dropout_rate,
        channels=channels,
        norm_first=True,
        layer_norm_epsilon=epsilon,
        dtype=source_dtype(backbone, dtype),
    )
    vit.build()
    # A bias keras-hub leaves out is a zero bias of ours.
    zeros = []
    if not backbone.use_patch_bias:
        zeros.append("patch_embedding/projection/bias")
    if not backbone.use_mha_bias:
        zeros.append(r"encoder_layer_\d+/self_attention/\w+/bias")
    if not backbone.use_mlp_bias:
        zeros.append(r"encoder_layer_\d+/feed_forward/\w+/bias")
    copy_weights(
        classifier or backbone,
        vit,
        _VIT_RULES,
        reshaped=_VIT_RESHAPED,
        zeros=zeros,
        keep=() if classifier is not None else ("head/kernel", "head/bias"),
    )
    return vit
