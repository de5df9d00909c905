"""Converting keras-hub's GPT-2 and ViT: our models compute the same
logits (random keras-hub models, weights re-drawn large enough that the
two GELU forms differ by far more than the tolerance), and our cached
sampler decodes what keras-hub's full forward pass decodes greedily."""

import os
import sys

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from keras_transformer.activations import gelu_approximate
from keras_transformer.interop import gpt_from_keras_hub
from keras_transformer.interop import vision_transformer_from_keras_hub
from keras_transformer.interop._weights import copy_weights
from keras_transformer.models import GPT
from keras_transformer.models import VisionTransformer

ATOL = 1e-5
GPT2 = dict(
    vocabulary_size=100,
    num_layers=2,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    max_sequence_length=32,
)
VIT = dict(
    image_shape=(8, 8, 3),
    patch_size=4,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    mlp_dim=32,
)


def redraw(model, seed=0, table_std=1.0, gain=0.5):
    """Seeded weights of a useful size: N(0, table_std) tables, kernels
    with std gain / sqrt(fan-in), gammas 1 + N(0, 0.1), biases
    N(0, 0.1). (keras-hub's own start, std 0.02, keeps the activations so
    small that the two GELU forms would agree to 1e-6.)"""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        name = weight.path.rsplit("/", 1)[-1]
        if name in ("embeddings", "class_token"):
            value = rng.normal(0.0, table_std, shape)
        elif name == "kernel":
            value = rng.normal(0.0, gain / np.sqrt(np.prod(shape[:-1])), shape)
        elif name == "gamma":
            value = 1.0 + rng.normal(0.0, 0.1, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        weight.assign(value.astype("float32"))
    return model


def numpy(x):
    return ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def gpt2():
    """`(keras-hub GPT2CausalLM, our converted GPT)`."""
    keras.utils.set_random_seed(0)
    # Small token tables: with large ones, tied logits mostly repeat the
    # last token, and greedy decoding would prove little.
    backbone = redraw(
        keras_hub.models.GPT2Backbone(**GPT2), table_std=0.1, gain=1.0
    )
    causal_lm = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
    return causal_lm, gpt_from_keras_hub(backbone)


@pytest.fixture(scope="module")
def vit():
    """`(keras-hub ViTImageClassifier, our converted VisionTransformer)`."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(**VIT)
    classifier = redraw(
        keras_hub.models.ViTImageClassifier(backbone, num_classes=5), seed=1
    )
    return classifier, vision_transformer_from_keras_hub(classifier)


def hub_logits(causal_lm, ids, padding_mask=None):
    if padding_mask is None:
        padding_mask = np.ones_like(ids)
    return numpy(causal_lm({"token_ids": ids, "padding_mask": padding_mask}))


def test_gpt_config_is_gpt2(gpt2):
    _, ours = gpt2
    assert isinstance(ours, GPT)
    config = ours.get_config()
    expected = dict(
        vocab_size=100,
        max_length=32,
        num_layers=2,
        d_model=32,
        num_heads=2,
        d_ff=64,
        dropout_rate=0.1,
        norm_first=True,
        tie_embeddings=True,
        position="learned",
        layer_norm_epsilon=1e-5,
    )
    assert {k: config[k] for k in expected} == expected
    assert ours.activation is gelu_approximate


def test_gpt_logits_equal_keras_hub(gpt2):
    causal_lm, ours = gpt2
    ids = np.random.default_rng(0).integers(0, 100, (2, 12)).astype("int32")
    expected = hub_logits(causal_lm, ids)
    # What GPT2CausalLM computes: the backbone's output times E^T.
    backbone = causal_lm.backbone
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    table = numpy(backbone.token_embedding.embeddings)
    np.testing.assert_allclose(numpy(hidden) @ table.T, expected, atol=1e-4)
    assert np.abs(expected).max() > 1.0  # logits far from uniform
    np.testing.assert_allclose(numpy(ours(ids)), expected, atol=ATOL)


def test_gpt_logits_equal_keras_hub_before_right_padding(gpt2):
    causal_lm, ours = gpt2
    ids = np.random.default_rng(1).integers(0, 100, (2, 9)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    expected = hub_logits(causal_lm, ids, mask)
    got = numpy(ours(ids))
    np.testing.assert_allclose(got[0], expected[0], atol=ATOL)
    np.testing.assert_allclose(got[1, :5], expected[1, :5], atol=ATOL)


def test_gpt_converts_from_a_causal_lm(gpt2):
    causal_lm, ours = gpt2
    again = gpt_from_keras_hub(causal_lm)
    ids = np.arange(10, 20, dtype="int32")[None]
    np.testing.assert_array_equal(numpy(again(ids)), numpy(ours(ids)))


def test_cached_greedy_generation_equals_keras_hub_full_forward(gpt2):
    causal_lm, ours = gpt2
    prompts = [[5, 17, 42, 8, 99], [3, 61]]
    new = ours.generate(prompts, max_new_tokens=8, temperature=0.0)
    for prompt, tokens in zip(prompts, new, strict=True):
        # keras-hub: the whole sequence through the model at every step.
        sequence, expected_logits = list(prompt), []
        for _ in range(8):
            logits = hub_logits(causal_lm, np.array([sequence], "int32"))
            expected_logits.append(logits[0, -1])
            sequence.append(int(np.argmax(logits[0, -1])))
        assert tokens == sequence[len(prompt) :]
        assert len(set(tokens)) > 1  # not one token repeated
        # Ours: the prompt in one chunk, then a token at a time.
        state = ours.start_decoding(1, len(sequence))
        index, chunk = 0, prompt
        for expected in expected_logits:
            logits, state = ours.decode_step(
                state, np.array([chunk], "int32"), index
            )
            np.testing.assert_allclose(numpy(logits)[0], expected, atol=ATOL)
            index += len(chunk)
            chunk = [sequence[index]]


def test_converted_gpt_saves_and_reloads(gpt2, tmp_path):
    _, ours = gpt2
    ids = np.array([[1, 2, 3, 4]], "int32")
    path = os.path.join(tmp_path, "gpt2.keras")
    ours.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.activation is gelu_approximate
    np.testing.assert_allclose(
        numpy(reloaded(ids)), numpy(ours(ids)), atol=ATOL
    )


def test_vit_logits_equal_keras_hub(vit):
    classifier, ours = vit
    assert isinstance(ours, VisionTransformer)
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3))
    images = images.astype("float32")
    expected = numpy(classifier(images / 127.5 - 1.0))
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(numpy(ours(images)), expected, atol=ATOL)


def test_vit_equals_keras_hub_with_its_preprocessor(vit):
    classifier, ours = vit
    converter = keras_hub.layers.ViTImageConverter(
        image_size=(8, 8), scale=[1 / 127.5] * 3, offset=[-1.0] * 3
    )
    with_preprocessor = keras_hub.models.ViTImageClassifier(
        classifier.backbone,
        num_classes=5,
        preprocessor=keras_hub.models.ViTImageClassifierPreprocessor(
            image_converter=converter
        ),
    )
    head = classifier.get_layer("predictions").get_weights()
    with_preprocessor.get_layer("predictions").set_weights(head)
    again = vision_transformer_from_keras_hub(with_preprocessor)
    images = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3))
    images = images.astype("float32")
    expected = with_preprocessor.predict(images, verbose=0)
    np.testing.assert_allclose(numpy(again(images)), expected, atol=ATOL)
    np.testing.assert_allclose(numpy(ours(images)), expected, atol=ATOL)


@pytest.mark.parametrize("use_bias", [True, False])
def test_vit_backbone_features_equal_keras_hub(use_bias):
    flags = dict(
        use_mha_bias=use_bias, use_mlp_bias=use_bias, use_patch_bias=use_bias
    )
    backbone = redraw(keras_hub.models.ViTBackbone(**VIT, **flags))
    ours = vision_transformer_from_keras_hub(backbone, num_classes=16)
    # An identity head shows the features: the normed class token.
    head = ours.get_layer("head")
    head.kernel.assign(np.eye(16, dtype="float32"))
    head.bias.assign(np.zeros(16, "float32"))
    images = np.random.default_rng(2).uniform(0, 255, (2, 8, 8, 3))
    images = images.astype("float32")
    expected = numpy(backbone(images / 127.5 - 1.0))[:, 0]
    np.testing.assert_allclose(numpy(ours(images)), expected, atol=ATOL)


# -- what does not convert ------------------------------------------------


def test_not_a_keras_hub_model_is_a_type_error():
    model = GPT(10, 8, 1, 8, 2, 16)
    with pytest.raises(TypeError, match="GPT2Backbone or GPT2CausalLM"):
        gpt_from_keras_hub(model)
    with pytest.raises(TypeError, match="ViTBackbone or ViTImageClassifier"):
        vision_transformer_from_keras_hub(model)


def test_missing_keras_hub_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    with pytest.raises(ImportError, match="pip install keras-hub"):
        gpt_from_keras_hub(None)


def test_gpt2_with_lora_weights_is_refused():
    backbone = keras_hub.models.GPT2Backbone(**GPT2)
    backbone.enable_lora(rank=2)
    with pytest.raises(ValueError, match="lora_kernel_a.*no counterpart"):
        gpt_from_keras_hub(backbone)


def test_post_norm_gpt2_is_refused():
    backbone = keras_hub.models.GPT2Backbone(**GPT2)
    backbone.transformer_layers[1].normalize_first = False
    with pytest.raises(ValueError, match="pre-norm"):
        gpt_from_keras_hub(backbone)


def test_another_activation_is_refused():
    backbone = keras_hub.models.GPT2Backbone(**GPT2)
    backbone.transformer_layers[0].activation = keras.activations.relu
    with pytest.raises(ValueError, match="one GELU form"):
        gpt_from_keras_hub(backbone)


def test_vit_backbone_needs_num_classes():
    backbone = keras_hub.models.ViTBackbone(**VIT)
    with pytest.raises(ValueError, match="num_classes=None"):
        vision_transformer_from_keras_hub(backbone)


def test_vit_classifier_num_classes_must_agree(vit):
    classifier, _ = vit
    with pytest.raises(ValueError, match="classifier's 5"):
        vision_transformer_from_keras_hub(classifier, num_classes=3)


@pytest.mark.parametrize(
    "head, message",
    [
        (dict(pooling="gap"), "pooling"),
        (dict(intermediate_dim=8), "pre-logits"),
        (dict(activation="softmax"), "logits"),
    ],
)
def test_vit_heads_without_counterpart_are_refused(head, message):
    backbone = keras_hub.models.ViTBackbone(**VIT)
    classifier = keras_hub.models.ViTImageClassifier(
        backbone, num_classes=5, **head
    )
    with pytest.raises(ValueError, match=message):
        vision_transformer_from_keras_hub(classifier)


def test_vit_without_class_token_is_refused():
    backbone = keras_hub.models.ViTBackbone(**VIT, use_class_token=False)
    with pytest.raises(ValueError, match="class token"):
        vision_transformer_from_keras_hub(backbone, num_classes=5)


def test_vit_preprocessor_with_another_pixel_scale_is_refused():
    converter = keras_hub.layers.ViTImageConverter(
        image_size=(8, 8), scale=1 / 255
    )
    classifier = keras_hub.models.ViTImageClassifier(
        keras_hub.models.ViTBackbone(**VIT),
        num_classes=5,
        preprocessor=keras_hub.models.ViTImageClassifierPreprocessor(
            image_converter=converter
        ),
    )
    with pytest.raises(ValueError, match="x / 127.5 - 1"):
        vision_transformer_from_keras_hub(classifier)


def test_copy_weights_checks_shapes_and_coverage():
    def dense(units, **kwargs):
        layer = keras.layers.Dense(units, name="dense", **kwargs)
        return keras.Sequential([keras.Input((3,)), layer])

    target = dense(5)
    rules = [(r"dense/(kernel|bias)", r"dense/\1")]
    with pytest.raises(ValueError, match=r"has shape \(3, 4\).*expects"):
        copy_weights(dense(4), target, rules)
    with pytest.raises(ValueError, match="has no counterpart"):
        copy_weights(dense(5), target, [])
    with pytest.raises(ValueError, match="has no weight for"):
        copy_weights(dense(5, use_bias=False), target, rules)
    target.layers[0].bias.assign(np.ones(5, "float32"))
    copy_weights(dense(5, use_bias=False), target, rules, zeros=["dense/bias"])
    np.testing.assert_array_equal(numpy(target.layers[0].bias), np.zeros(5))
