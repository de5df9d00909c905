"""Bad inputs give a clear error naming the argument, on every entry point:
layers, models (call, fit, predict, evaluate, the *_on_batch methods; NumPy
and tf.data inputs), losses, metrics, schedules, generation, tokenizers,
export and saving. Eager, graph (`tf.function`) and XLA variants where
they differ; valid edge values still give the right result.

TensorFlow only (tf.data, graph and XLA functions, tokenizers, export).
"""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_transformer import generation
from keras_transformer import layers
from keras_transformer import losses
from keras_transformer import metrics
from keras_transformer.export import TextGenerator
from keras_transformer.export import Translator
from keras_transformer.models import GPT
from keras_transformer.models import Transformer
from keras_transformer.models import VisionTransformer
from keras_transformer.schedules import WarmupSchedule
from keras_transformer.text import CharTokenizer
from keras_transformer.text import WordPieceTokenizer

VOCAB = 10
GOOD = np.array([[1, 2, 3, 4], [5, 6, 7, 9]])  # 9 = VOCAB - 1, an edge
OUT_OF_RANGE = {
    "too_large": np.array([[1, 2, 12, 4], [1, 2, 3, 4]]),
    "negative": np.array([[1, 2, 3, 4], [1, 2, 3, -3]]),
    "vocab_size": np.array([[1, 2, 3, 10], [1, 2, 3, 4]]),
}
FLOAT_IDS = np.array([[1.7, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])


def gpt(jit_compile=True):
    model = GPT(
        vocab_size=VOCAB,
        max_length=8,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        dropout_rate=0.0,
    )
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


@pytest.fixture(scope="module")
def model():
    return gpt()


@pytest.fixture(scope="module")
def transformer():
    model = Transformer(
        src_vocab_size=12,
        tgt_vocab_size=14,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        dropout_rate=0.0,
        max_length=8,
    )
    model.compile(
        "adam", losses.MaskedSparseCategoricalCrossentropy(), jit_compile=True
    )
    return model


@pytest.fixture(scope="module")
def vit():
    model = VisionTransformer(
        image_size=8,
        patch_size=4,
        num_classes=3,
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        channels=1,
    )
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    return model


def dataset(x, y=None):
    data = (x,) if y is None else (x, y)
    return tf.data.Dataset.from_tensor_slices(data).batch(2)


# -- layers -------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_embedding_rejects_ids_outside_the_vocabulary(case):
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8)
    with pytest.raises(ValueError, match=r"`inputs` holds token ids outside"):
        embed(OUT_OF_RANGE[case])


def test_embedding_rejects_float_ids():
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8)
    with pytest.raises(ValueError, match=r"`inputs` must hold integer ids"):
        embed(FLOAT_IDS)


@pytest.mark.parametrize("position", ["learned", "sinusoidal"])
def test_embedding_rejects_a_length_above_max_length(position):
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8, position=position)
    with pytest.raises(ValueError, match="max_length"):
        embed(np.ones((1, 9), "int32"))


def test_embedding_rejects_a_start_index_past_max_length():
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8, position="learned")
    with pytest.raises(ValueError, match="start_index"):
        embed(np.ones((1, 2), "int32"), start_index=7)


def test_embedding_edge_id_reads_its_own_row():
    embed = layers.TokenAndPositionEmbedding(
        VOCAB, 4, 8, position="learned", scale_tokens=False
    )
    out = np.asarray(embed(np.array([[VOCAB - 1]])))
    table = np.asarray(embed.token_embeddings)
    positions = np.asarray(embed._position_embedding.embeddings)
    np.testing.assert_allclose(out[0, 0], table[-1] + positions[0], atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_traced_learned_positions_past_max_length_fail(jit_compile):
    """A dynamic length above max_length used to read the last position
    row under XLA; the position slice now fails in graph and XLA alike."""
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8, position="learned")
    embed(np.ones((1, 2), "int32"))

    @tf.function(
        jit_compile=jit_compile,
        input_signature=[tf.TensorSpec([1, None], tf.int32)],
    )
    def run(ids):
        return embed(ids)

    assert run(tf.ones((1, 8), tf.int32)).shape == (1, 8, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="size"):
        run(tf.ones((1, 9), tf.int32))


def test_graph_ids_outside_the_vocabulary_fail_the_step():
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8)
    run = tf.function(embed)
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size=10"):
        run(tf.constant(OUT_OF_RANGE["too_large"]))


def test_xla_ids_outside_the_vocabulary_give_nan_not_a_clamped_row():
    embed = layers.TokenAndPositionEmbedding(VOCAB, 4, 8)
    run = tf.function(embed, jit_compile=True)
    out = run(tf.constant(OUT_OF_RANGE["too_large"])).numpy()
    assert np.isnan(out[0, 2]).all()
    assert np.isfinite(np.delete(out[0], 2, axis=0)).all()
    np.testing.assert_allclose(
        run(tf.constant(GOOD)).numpy(), np.asarray(embed(GOOD)), atol=1e-6
    )


X = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
BAD_MASKS = {
    "broadcast_batch": np.ones((1, 4), bool),
    "wrong_length": np.ones((2, 3), bool),
    "rank_3": np.ones((2, 4, 1), bool),
    "float": np.ones((2, 4), "float32"),
}


@pytest.mark.parametrize("case", sorted(BAD_MASKS))
def test_self_attention_rejects_bad_padding_masks(case):
    layer = layers.MultiHeadSelfAttention(num_heads=2)
    with pytest.raises(ValueError, match="padding_mask"):
        layer(X, padding_mask=BAD_MASKS[case])


@pytest.mark.parametrize(
    "mask", [np.ones((1, 4, 4), bool), np.ones((2, 4, 4), "float32")]
)
def test_self_attention_rejects_bad_attention_masks(mask):
    layer = layers.MultiHeadSelfAttention(num_heads=2)
    with pytest.raises(ValueError, match="attention_mask"):
        layer(X, attention_mask=mask)


def test_integer_padding_mask_equals_boolean_one():
    layer = layers.MultiHeadSelfAttention(num_heads=2)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(
        layer(X, padding_mask=mask),
        layer(X, padding_mask=mask.astype(bool)),
        atol=1e-6,
    )


@pytest.mark.parametrize("case", ["broadcast_batch", "float"])
def test_encoder_layer_rejects_bad_padding_masks(case):
    layer = layers.EncoderLayer(d_model=8, num_heads=2, d_ff=16)
    with pytest.raises(ValueError, match="padding_mask"):
        layer(X, padding_mask=BAD_MASKS[case])


@pytest.mark.parametrize(
    "cls", [layers.CrossAttention, layers.DecoderLayer], ids=["cross", "dec"]
)
def test_cross_attention_rejects_bad_context_masks(cls):
    if cls is layers.CrossAttention:
        layer = cls(num_heads=2)
    else:
        layer = cls(d_model=8, num_heads=2, d_ff=16)
    context = np.ones((2, 5, 8), "float32")
    with pytest.raises(ValueError, match="context_padding_mask"):
        layer(X, context, context_padding_mask=np.ones((1, 5), bool))


def test_graph_mask_of_known_wrong_shape_fails_when_traced():
    layer = layers.MultiHeadSelfAttention(num_heads=2)
    run = tf.function(lambda x, m: layer(x, padding_mask=m))
    with pytest.raises(ValueError, match="padding_mask"):
        run(tf.constant(X), tf.ones((1, 4), tf.bool))


@pytest.mark.parametrize(
    "make, name",
    [
        (
            lambda: layers.EncoderLayer(d_model=8, num_heads=3, d_ff=16),
            "d_model",
        ),
        (lambda: layers.FeedForward(8, 16, dropout_rate=1.5), "dropout_rate"),
        (lambda: layers.PositionalEncoding(base=1), "base"),
        (lambda: layers.PatchEmbedding(0, 8), "patch_size"),
        (
            lambda: layers.TokenAndPositionEmbedding(10, 4, 8, position="abs"),
            "position",
        ),
    ],
)
def test_layer_arguments_are_checked(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# -- models: call -------------------------------------------------------------


@pytest.mark.parametrize(
    "ids, message",
    [
        (OUT_OF_RANGE["too_large"], "token ids outside"),
        (OUT_OF_RANGE["negative"], "token ids outside"),
        (FLOAT_IDS, "integer ids"),
        (np.zeros((2, 0), "int32"), "no tokens"),
        (np.ones((2, 9), "int32"), "max_length"),
    ],
    ids=["too_large", "negative", "float", "empty", "too_long"],
)
def test_gpt_call_rejects_bad_ids(model, ids, message):
    with pytest.raises(ValueError, match=message) as error:
        model(ids)
    assert "inputs" in str(error.value) or "max_length" in str(error.value)


def test_transformer_call_names_the_bad_side(transformer):
    src, tgt = np.array([[1, 2, 12]]), np.array([[1, 2]])
    with pytest.raises(ValueError, match=r"`src_ids`.*src_vocab_size=12"):
        transformer((src, tgt))
    with pytest.raises(ValueError, match=r"`tgt_ids`.*tgt_vocab_size=14"):
        transformer((np.array([[1, 2]]), np.array([[1, 14]])))


def test_vit_rejects_images_of_the_wrong_shape(vit):
    with pytest.raises(ValueError, match="images"):
        vit(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="patch_size"):
        vit(np.zeros((2, 6, 8, 1)))


# -- models: fit, evaluate, predict (compiled with XLA) ----------------------


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
@pytest.mark.parametrize("source", ["numpy", "tf.data"])
def test_gpt_predict_rejects_ids_outside_the_vocabulary(model, case, source):
    x = OUT_OF_RANGE[case]
    data = x if source == "numpy" else dataset(x)
    with pytest.raises(ValueError, match=r"`x` holds token ids outside"):
        model.predict(data, verbose=0)


@pytest.mark.parametrize("source", ["numpy", "tf.data", "generator"])
def test_gpt_fit_rejects_ids_outside_the_vocabulary(model, source):
    x, y = OUT_OF_RANGE["negative"], GOOD
    if source == "numpy":
        args = (x, y)
    elif source == "tf.data":
        args = (dataset(x, y),)
    else:
        args = (iter([(GOOD, GOOD), (x, y)]),)
    kwargs = {"steps_per_epoch": 2} if source == "generator" else {}
    with pytest.raises(ValueError, match=r"`x` holds token ids.*min -3"):
        model.fit(*args, verbose=0, **kwargs)


def _generator(batches):
    yield from batches


@pytest.mark.parametrize("source", ["numpy", "tf.data"])
def test_gpt_fit_rejects_labels_outside_the_vocabulary(model, source):
    y = OUT_OF_RANGE["too_large"]
    args = (GOOD, y) if source == "numpy" else (dataset(GOOD, y),)
    with pytest.raises(ValueError, match=r"`y` holds labels.*max 12"):
        model.fit(*args, verbose=0)


def test_gpt_fit_from_a_python_generator_is_checked(model):
    batches = _generator([(GOOD, GOOD), (OUT_OF_RANGE["negative"], GOOD)])
    with pytest.raises(ValueError, match=r"`x` holds token ids"):
        model.fit(batches, steps_per_epoch=2, verbose=0)


@pytest.mark.parametrize(
    "method",
    ["evaluate", "train_on_batch", "test_on_batch", "predict_on_batch"],
)
def test_gpt_batch_methods_reject_bad_ids(model, method):
    x = OUT_OF_RANGE["too_large"]
    call = getattr(model, method)
    with pytest.raises(ValueError, match=r"`x` holds token ids"):
        if method == "predict_on_batch":
            call(x)
        elif method == "evaluate":
            call(x, GOOD, verbose=0)
        else:
            call(x, GOOD)


def test_gpt_fit_rejects_float_ids_and_bad_validation_data(model):
    with pytest.raises(ValueError, match=r"`x` must hold integer ids"):
        model.fit(FLOAT_IDS, GOOD, verbose=0)
    with pytest.raises(ValueError, match=r"`x` must hold integer ids"):
        model.fit(dataset(FLOAT_IDS, GOOD), verbose=0)
    with pytest.raises(ValueError, match=r"`y` holds labels"):
        model.fit(
            GOOD,
            GOOD,
            validation_data=(GOOD, OUT_OF_RANGE["negative"]),
            verbose=0,
        )


def test_gpt_fit_rejects_empty_sequences(model):
    with pytest.raises(ValueError, match=r"`x` holds no tokens"):
        model.fit(GOOD[:, :0], GOOD[:, :0], verbose=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_gpt_valid_edge_ids_give_the_eager_logits(jit_compile):
    model = gpt(jit_compile)
    eager = np.asarray(model(GOOD))
    np.testing.assert_allclose(model.predict(GOOD, verbose=0), eager, atol=1e-5)
    np.testing.assert_allclose(
        model.predict(dataset(GOOD), verbose=0), eager, atol=1e-5
    )
    history = model.fit(dataset(GOOD, GOOD), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_gpt_in_a_users_xla_function_gives_nan_for_bad_ids(model):
    run = tf.function(lambda ids: model(ids), jit_compile=True)
    logits = run(tf.constant(OUT_OF_RANGE["too_large"])).numpy()
    # Not the logits of the clamped id 9: NaN (attention spreads it).
    assert np.isnan(logits[0, 2:]).all()
    good = run(tf.constant(GOOD)).numpy()
    np.testing.assert_allclose(good, np.asarray(model(GOOD)), atol=1e-5)


@pytest.mark.parametrize("form", ["tuple", "dict"])
def test_transformer_fit_checks_both_sides_and_labels(transformer, form):
    src, tgt = np.array([[1, 2, 3], [4, 5, 11]]), np.array([[1, 2], [3, 13]])
    good_y = np.array([[2, 3], [4, 5]])

    def x(s, t):
        return (s, t) if form == "tuple" else {"source": s, "target": t}

    with pytest.raises(ValueError, match=r"`src_ids` holds token ids"):
        transformer.fit(x(src + 1, tgt), good_y, verbose=0)
    with pytest.raises(ValueError, match=r"`tgt_ids` holds token ids"):
        transformer.fit(
            tf.data.Dataset.from_tensor_slices((x(src, tgt + 1), good_y)).batch(
                2
            ),
            verbose=0,
        )
    with pytest.raises(ValueError, match=r"`y` holds labels.*tgt_vocab_size"):
        transformer.train_on_batch(x(src, tgt), good_y + 12)
    transformer.train_on_batch(x(src, tgt), good_y)  # the edges are fine


@pytest.mark.parametrize("source", ["numpy", "tf.data"])
@pytest.mark.parametrize("label", [3, -1])
def test_vit_fit_rejects_labels_outside_num_classes(vit, source, label):
    images = np.zeros((2, 8, 8, 1), "float32")
    labels = np.array([0, label])
    args = (images, labels) if source == "numpy" else (dataset(images, labels),)
    with pytest.raises(ValueError, match=r"`y` holds labels.*num_classes=3"):
        vit.fit(*args, verbose=0)


def test_vit_accepts_edge_labels_and_one_hot_targets(vit):
    images = np.zeros((2, 8, 8, 1), "float32")
    assert np.isfinite(vit.train_on_batch(images, np.array([0, 2])))
    assert vit._input_rules(images, np.eye(3, dtype="float32")[[0, 2]]) == []


# -- losses, metrics, schedules ----------------------------------------------

LOGITS = np.zeros((2, 3, 5), "float32")


@pytest.mark.parametrize(
    "labels", [np.array([[1, 2, 5]] * 2), np.array([[1, -2, 0]] * 2)]
)
@pytest.mark.parametrize(
    "make",
    [
        losses.MaskedSparseCategoricalCrossentropy,
        metrics.MaskedAccuracy,
        metrics.Perplexity,
    ],
)
def test_labels_outside_the_classes_are_named(make, labels):
    fn = make()
    call = fn if isinstance(fn, keras.losses.Loss) else fn.update_state
    with pytest.raises(ValueError, match=r"`y_true` holds labels.*=5\)"):
        call(labels, LOGITS)


def test_padding_label_outside_the_classes_is_allowed():
    loss = losses.MaskedSparseCategoricalCrossentropy(pad_id=-1)
    value = loss(np.array([[1, 2, -1]]), LOGITS[:1])
    np.testing.assert_allclose(float(value), np.log(5.0), rtol=1e-5)


def test_labels_of_the_wrong_shape_are_named():
    loss = losses.MaskedSparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match="y_true"):
        loss(np.ones((2, 4), "int32"), LOGITS)
    with pytest.raises(ValueError, match="whole numbers"):
        loss(np.full((2, 3), 1.5), LOGITS)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"d_model": 0}, "d_model"),
        ({"d_model": 8, "warmup_steps": -1}, "warmup_steps"),
        ({"d_model": 8, "scale": -1.0}, "scale"),
    ],
)
def test_schedule_arguments_are_checked(kwargs, name):
    with pytest.raises(ValueError, match=name):
        WarmupSchedule(**kwargs)


# -- generation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"prompt_ids": [[1, 12]]}, "vocab_size"),
        ({"prompt_ids": [[1, -3]]}, "vocab_size"),
        ({"prompt_ids": [[1.7, 2.0]]}, "integer ids"),
        ({"prompt_ids": np.array([[1.0, 2.0]])}, "integer ids"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 20}, "max_length"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"stop_token_ids": "ab"}, "stop_token_ids"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_sample_rejects_bad_prompts_and_settings(model, kwargs, name):
    args = {"prompt_ids": [[1, 2]], "max_new_tokens": 2, **kwargs}
    with pytest.raises(ValueError, match=name):
        generation.sample(model, **args)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"inputs": np.array([[1, 12]])}, "src_vocab_size"),
        ({"inputs": np.array([[1.0, 2.0]])}, "integer ids"),
        ({"inputs": np.ones((1, 9), "int32")}, "max_length"),
        ({"max_length": 9}, "max_length"),
        ({"start_id": 14}, "start_id"),
        ({"beam_size": 0}, "beam_size"),
        ({"length_penalty": -1.0}, "length_penalty"),
    ],
)
def test_searches_reject_bad_inputs_and_settings(transformer, kwargs, name):
    args = {
        "inputs": np.array([[1, 2, 3]]),
        "max_length": 4,
        "start_id": 2,
        "end_id": 3,
        **kwargs,
    }
    with pytest.raises(ValueError, match=name):
        generation.beam_search(transformer, **args)
    if "beam_size" not in kwargs and "length_penalty" not in kwargs:
        with pytest.raises(ValueError, match=name):
            generation.greedy_search(transformer, **args)


def test_generate_checks_the_tokenizer_against_the_model(model):
    tokenizer = CharTokenizer.from_text("abcdefghijkl")  # 12 characters
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate("abc", 2, tokenizer=tokenizer)


# -- tokenizers ---------------------------------------------------------------

WORDS = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "man", "hat", "."]


@pytest.fixture(scope="module")
def wordpiece():
    return WordPieceTokenizer(WORDS)


@pytest.mark.parametrize(
    "strings, message",
    [
        ([b"a \xff man"], "valid UTF-8"),
        ([], "non-empty batch"),
        (None, "non-empty batch"),
        ([1, 2], "takes strings"),
        ([["a"]], "1-D batch"),
    ],
    ids=["utf8", "empty", "none", "ints", "nested"],
)
@pytest.mark.parametrize("kind", ["wordpiece", "characters"])
def test_tokenize_rejects_bad_text(wordpiece, kind, strings, message):
    tokenizer = (
        wordpiece if kind == "wordpiece" else CharTokenizer.from_text("a man")
    )
    with pytest.raises(ValueError, match=message):
        tokenizer.tokenize(strings)


def test_invalid_utf8_fails_inside_a_graph(wordpiece):
    run = tf.function(lambda s: wordpiece.tokenize(s).flat_values)
    assert run(tf.constant(["a man"])).shape == (4,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="UTF-8"):
        run(tf.constant([b"a \xff man"]))


@pytest.mark.parametrize(
    "ids, message",
    [
        ([9999], r"Ids must be in \[0, 8\)"),
        ([[4, -1]], r"Ids must be in \[0, 8\)"),
        (np.array([[4.0, 5.0]]), "integer token ids"),
    ],
)
def test_detokenize_rejects_ids_outside_the_vocabulary(wordpiece, ids, message):
    with pytest.raises(ValueError, match=message):
        wordpiece.detokenize(ids)


def test_detokenize_checks_inside_a_graph(wordpiece):
    run = tf.function(lambda ids: wordpiece.detokenize(ids))
    assert run(tf.constant([[4, 5]], tf.int64)).numpy().tolist() == [b"a man"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size=8"):
        run(tf.constant([[4, 9999]], tf.int64))


# -- export -------------------------------------------------------------------


@pytest.fixture(scope="module")
def translator_parts():
    model = Transformer(
        src_vocab_size=len(WORDS),
        tgt_vocab_size=len(WORDS),
        num_layers=1,
        d_model=8,
        num_heads=2,
        d_ff=16,
        max_length=8,
    )
    return model, WordPieceTokenizer(WORDS), WordPieceTokenizer(WORDS)


LONG = "a man " * 5  # 10 words + [START] and [END]: 12 tokens > 8


def test_translator_rejects_a_source_longer_than_max_length(translator_parts):
    translator = Translator(*translator_parts, beam_size=1)
    with pytest.raises(ValueError, match=r"12 tokens.*max_length=8"):
        translator(["a man .", LONG])
    with pytest.raises(ValueError, match="max_length=8"):
        translator.source_ids([LONG])
    assert isinstance(translator("a man ."), str)


def test_translator_graph_fails_on_a_long_source(translator_parts):
    translator = Translator(*translator_parts, beam_size=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length=8"):
        translator.serve(tf.constant([LONG]))


def test_translator_truncates_only_when_asked(translator_parts):
    translator = Translator(
        *translator_parts, beam_size=1, truncate_long_sources=True
    )
    ids = translator.source_ids([LONG]).numpy()
    assert ids.shape == (1, 8) and ids[0, -1] == 3
    assert isinstance(translator(LONG), str)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 2.5}, "beam_size"),
        ({"length_penalty": -1}, "length_penalty"),
        ({"max_output_length": 9}, "max_output_length"),
    ],
)
def test_translator_settings_are_checked(translator_parts, kwargs, name):
    with pytest.raises(ValueError, match=name):
        Translator(*translator_parts, **kwargs)


def test_translator_and_generator_check_vocabularies(translator_parts, model):
    model_, source, _ = translator_parts
    small = WordPieceTokenizer(WORDS[:-1])
    with pytest.raises(ValueError, match="src_vocab_size"):
        Translator(model_, small, source)
    with pytest.raises(ValueError, match="tgt_vocab_size"):
        Translator(model_, source, small)
    with pytest.raises(ValueError, match="vocab_size=10"):
        TextGenerator(model, CharTokenizer.from_text("abc"), max_new_tokens=2)


# -- saving and loading -------------------------------------------------------


def test_loading_a_corrupt_file_names_it(tmp_path):
    path = tmp_path / "corrupt.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="corrupt.keras"):
        keras.saving.load_model(path)


def test_loading_a_file_with_a_bad_config_names_the_argument(tmp_path, model):
    path = tmp_path / "gpt.keras"
    model.save(path)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["vocab_size"] = 0
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises((ValueError, TypeError), match="vocab_size"):
        keras.saving.load_model(bad)
