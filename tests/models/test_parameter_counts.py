"""Parameter counts in closed form (docs/concepts/parameter-counting.md)
against Keras' `count_params()`, from a block up to the paper's base and
big Transformers, with and without shared embeddings; and the shared
model against an unshared one whose three tables are made equal."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import DecoderLayer
from keras_transformer.layers import EncoderLayer
from keras_transformer.models import GPT
from keras_transformer.models import Transformer
from keras_transformer.models import VisionTransformer


def attention(d):
    return 4 * (d * d + d)  # W_Q, W_K, W_V, W_O, each with a bias


def feed_forward(d, f):
    return d * f + f + f * d + d


def norm(d):
    return 2 * d  # gamma and beta


def encoder_layer(d, f):
    return attention(d) + feed_forward(d, f) + 2 * norm(d)


def decoder_layer(d, f):
    return 2 * attention(d) + feed_forward(d, f) + 3 * norm(d)


def transformer(vs, vt, n, d, f, shared=False, learned=0, norm_first=False):
    """`learned`: the length of learned position tables (0: sinusoidal)."""
    blocks = n * (encoder_layer(d, f) + decoder_layer(d, f))
    final_norms = 2 * norm(d) if norm_first else 0
    if shared:
        tables = vs * d + learned * d  # one table, one position table
    else:
        tables = vs * d + vt * d + 2 * learned * d + (d * vt + vt)
    return blocks + final_norms + tables


@pytest.mark.parametrize(
    "kind, d, h, f, expected",
    [
        ("encoder", 512, 8, 2048, 3_152_384),
        ("encoder", 1024, 16, 4096, 12_596_224),
        ("encoder", 16, 4, 32, None),
        ("decoder", 512, 8, 2048, 4_204_032),
        ("decoder", 1024, 16, 4096, 16_796_672),
        ("decoder", 16, 4, 32, None),
    ],
)
def test_blocks(kind, d, h, f, expected):
    if kind == "encoder":
        layer, formula = EncoderLayer(d, h, f), encoder_layer(d, f)
        layer.build((None, None, d))
    else:
        layer, formula = DecoderLayer(d, h, f), decoder_layer(d, f)
        layer.build((None, None, d), (None, None, d))
    assert layer.count_params() == formula
    if expected:
        assert formula == expected


# The paper's base and big configurations (Vaswani et al. 2017, table 3)
# on its joint English-German vocabulary of about 37,000 word pieces.
PAPER = {
    "base": dict(num_layers=6, d_model=512, num_heads=8, d_ff=2048),
    "big": dict(num_layers=6, d_model=1024, num_heads=16, d_ff=4096),
}
PAPER_COUNTS = {  # (unshared, shared), the page's worked figures
    "base": (101_007_496, 63_082_496),
    "big": (290_058_376, 214_245_376),
}


@pytest.mark.parametrize("size", ["base", "big"])
@pytest.mark.parametrize("shared", [False, True])
def test_the_papers_configurations(size, shared):
    cfg = PAPER[size]
    model = Transformer(37000, 37000, **cfg, share_embeddings=shared)
    n, d, f = cfg["num_layers"], cfg["d_model"], cfg["d_ff"]
    formula = transformer(37000, 37000, n, d, f, shared=shared)
    assert model.count_params() == formula == PAPER_COUNTS[size][shared]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(position="learned", max_length=12),
        dict(norm_first=True),
        dict(position="learned", max_length=12, share_embeddings=True),
        dict(norm_first=True, share_embeddings=True),
    ],
)
def test_small_transformers(kwargs):
    shared = kwargs.get("share_embeddings", False)
    vt = 20 if shared else 24
    model = Transformer(20, vt, 2, 16, 4, 32, **kwargs)
    learned = kwargs.get("max_length", 0)
    expected = transformer(
        20, vt, 2, 16, 32, shared, learned, kwargs.get("norm_first", False)
    )
    assert model.count_params() == expected


def test_gpt_and_vision_transformer():
    v, n, d, f, length = 50, 2, 16, 32, 12
    gpt = GPT(v, length, n, d, 4, f, tie_embeddings=True)
    blocks = n * encoder_layer(d, f) + norm(d)  # pre-norm: a final norm
    assert gpt.count_params() == blocks + v * d + length * d
    untied = GPT(v, length, n, d, 4, f)
    assert untied.count_params() == gpt.count_params() + d * v + v
    # A ViT of 8x8 images cut into 4 patches of 4x4x1: a projection of the
    # 16 pixels of a patch, a class token, 5 positions, a head over the
    # class token, and a final norm (pre-norm blocks).
    vit = VisionTransformer(
        image_size=8, patch_size=4, num_classes=10, num_layers=n,
        d_model=d, num_heads=4, d_ff=f, channels=1,
    )  # fmt: skip
    vit.build((None, 8, 8, 1))
    embed = (16 * d + d) + d + 5 * d
    assert vit.count_params() == embed + n * encoder_layer(d, f) + norm(d) + (
        d * 10 + 10
    )


def test_shared_model_is_the_unshared_one_with_equal_tables():
    shared = Transformer(20, 20, 2, 16, 4, 32, dropout_rate=0.0,
                         share_embeddings=True)  # fmt: skip
    unshared = Transformer(20, 20, 2, 16, 4, 32, dropout_rate=0.0)
    table = ops.convert_to_numpy(shared._src_embedding.token_embeddings)
    by_path = {w.path.split("/", 1)[1]: w for w in shared.weights}
    for weight in unshared.weights:
        name = weight.path.split("/", 1)[1]
        if name.startswith(("source_embedding", "target_embedding")):
            weight.assign(table)
        elif name == "head/kernel":
            weight.assign(table.T)
        elif name == "head/bias":
            weight.assign(np.zeros(20))
        else:
            weight.assign(by_path[name])
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 20, (3, 7)), rng.integers(1, 20, (3, 5))
    np.testing.assert_allclose(
        ops.convert_to_numpy(shared((src, tgt))),
        ops.convert_to_numpy(unshared((src, tgt))),
        atol=1e-5,
    )
    # Cached decoding reads the same table for the target and the logits.
    full = ops.convert_to_numpy(shared((src, tgt)))
    state = shared.start_decoding(src, max_length=5)
    for i in range(5):
        logits, state = shared.decode_step(state, tgt[:, i : i + 1], i)
        np.testing.assert_allclose(
            ops.convert_to_numpy(logits), full[:, i], atol=1e-4
        )


def test_shared_embeddings_need_one_vocabulary():
    with pytest.raises(ValueError, match="src_vocab_size` must equal"):
        Transformer(20, 24, 1, 8, 2, 16, share_embeddings=True)


def test_shared_model_saves_one_table(tmp_path):
    model = Transformer(20, 20, 1, 8, 2, 16, share_embeddings=True)
    src, tgt = np.array([[3, 4, 5]]), np.array([[2, 6]])
    expected = ops.convert_to_numpy(model((src, tgt)))
    path = tmp_path / "shared.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.count_params() == model.count_params()
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded((src, tgt))), expected, atol=1e-6
    )
