"""keras-hub's GPT-2 (`GPT2Backbone`, `GPT2CausalLM`) as our `GPT`."""

import keras

from keras_transformer.activations import gelu_approximate
from keras_transformer.interop._checks import gelu_form
from keras_transformer.interop._checks import import_keras_hub
from keras_transformer.interop._checks import one_epsilon
from keras_transformer.interop._checks import source_dtype
from keras_transformer.interop._checks import unsupported
from keras_transformer.interop._weights import ATTENTION_PROJECTIONS
from keras_transformer.interop._weights import copy_weights
from keras_transformer.models.gpt import GPT

# keras-hub GPT2Backbone path -> GPT path.
_LAYER = r"transformer_layer_(\d+)"
_GPT2_RULES = (
    ("token_embedding/embeddings", "embedding/token_embedding/embeddings"),
    (
        "position_embedding/embeddings",
        "embedding/position_embedding/embeddings",
    ),
    (
        rf"{_LAYER}/self_attention/((?:query|key|value|attention_output)"
        r"/(?:kernel|bias))",
        r"decoder_layer_\1/self_attention/\2",
    ),
    (
        rf"{_LAYER}/self_attention_layer_norm/(gamma|beta)",
        r"decoder_layer_\1/self_attention_norm/\2",
    ),
    (
        rf"{_LAYER}/feedforward_intermediate_dense/(kernel|bias)",
        r"decoder_layer_\1/feed_forward/inner_dense/\2",
    ),
    (
        rf"{_LAYER}/feedforward_output_dense/(kernel|bias)",
        r"decoder_layer_\1/feed_forward/output_dense/\2",
    ),
    (
        rf"{_LAYER}/feedforward_layer_norm/(gamma|beta)",
        r"decoder_layer_\1/feed_forward_norm/\2",
    ),
    (r"layer_norm/(gamma|beta)", r"final_norm/\1"),
)


def gpt_from_keras_hub(model, dtype=None):
    """A `GPT` with the architecture and weights of a keras-hub GPT-2.

    The GPT is pre-norm with a final layer norm, GELU in its tanh form
    (`keras_transformer.activations.gelu_approximate`), learned positions
    and the token table tied to the output (`tie_embeddings=True`):
    `logits = LayerNorm(h) E^T`, what `GPT2CausalLM` computes. Its logits
    equal keras-hub's for the same ids (a right-padded batch: positions
    before the padding). Tokenizing is the keras-hub tokenizer's job.

    Args:
        model: a `keras_hub.models.GPT2Backbone`, or a `GPT2CausalLM`
            (its backbone is converted).
        dtype: dtype policy of the new model. Defaults to the source's.

    Returns:
        A `keras_transformer.models.GPT`.

    Raises:
        ImportError: keras-hub is not installed.
        TypeError: `model` is not a GPT-2 backbone or causal LM.
        ValueError: a configuration the GPT cannot reproduce (post-norm
            blocks, untied or soft-capped logits, another activation,
            several layer-norm epsilons), quantized or LoRA weights, or a
            weight without a counterpart.
    """
    keras_hub = import_keras_hub()
    backbone = model
    if isinstance(model, keras_hub.models.GPT2CausalLM):
        backbone = model.backbone
    if not isinstance(backbone, keras_hub.models.GPT2Backbone):
        raise TypeError(
            "`model` must be a keras_hub.models.GPT2Backbone or "
            f"GPT2CausalLM. Received: {type(model).__name__}"
        )
    kind = type(backbone).__name__
    blocks = backbone.transformer_layers
    for block in blocks:
        if not block.normalize_first:
            raise unsupported(
                kind, "its blocks must be pre-norm", block.normalize_first
            )
    forms = {gelu_form(block.activation) for block in blocks}
    if len(forms) != 1 or None in forms:
        raise unsupported(
            kind,
            "the feed-forward activation must be one GELU form throughout",
            [keras.activations.serialize(b.activation) for b in blocks],
        )
    embedding = backbone.token_embedding
    if not getattr(embedding, "tie_weights", True):
        raise unsupported(kind, "the logits must be tied", False)
    if getattr(embedding, "logit_soft_cap", None) is not None:
        raise unsupported(kind, "soft-capped logits", embedding.logit_soft_cap)
    epsilon = one_epsilon(
        kind,
        [b.layer_norm_epsilon for b in blocks] + [backbone.layer_norm.epsilon],
    )
    gpt = GPT(
        vocab_size=backbone.vocabulary_size,
        max_length=backbone.max_sequence_length,
        num_layers=backbone.num_layers,
        d_model=backbone.hidden_dim,
        num_heads=backbone.num_heads,
        d_ff=backbone.intermediate_dim,
        dropout_rate=backbone.dropout,
        norm_first=True,
        tie_embeddings=True,
        position="learned",
        activation=gelu_approximate if forms == {"tanh"} else "gelu",
        layer_norm_epsilon=epsilon,
        dtype=source_dtype(backbone, dtype),
    )
    copy_weights(backbone, gpt, _GPT2_RULES, reshaped=(ATTENTION_PROJECTIONS,))
    return gpt
