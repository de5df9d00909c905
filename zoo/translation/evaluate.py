"""Use a trained translation run.

python -m zoo evaluate RUN_DIR                 BLEU on Multi30k test2016
                                               (a custom corpus: its val)
python -m zoo translate RUN_DIR "ein Mann ."   translation + attention plot
python -m zoo export RUN_DIR --out DIR         string-to-string SavedModel
"""

import json
import re

from zoo import cli
from zoo import files
from zoo import recipe
from zoo import runs
from zoo.translation import data as tr_data
from zoo.translation.scores import bleu
from zoo.translation.scores import bleu_by_length

BATCH_SIZE = 64


def load_run(run_dir):
    """`(run, record, cfg, model, tokenizers)` of a finished run: a
    translation Transformer, or the recurrent baseline (`seq2seq`), which
    reads the same data and is decoded alike."""
    run = runs.RunDir(run_dir)
    record, cfg, model = run.open(("translation", "seq2seq"))
    tokenizers = tr_data.load_tokenizers(run.path)
    return run, record, cfg, model, tokenizers


def translator_for(
    cfg, model, tokenizers, beam_size=None, truncate_long_sources=False
):
    """The run's `Translator`. A source longer than the model's
    `max_length` is an error, or, with `truncate_long_sources` (scoring a
    whole test set), keeps its first tokens."""
    from keras_transformer.export import Translator

    return Translator(
        model,
        *tokenizers,
        beam_size=cfg.beam_size if beam_size is None else beam_size,
        length_penalty=cfg.length_penalty,
        truncate_long_sources=truncate_long_sources,
    )


def count_long_sources(translator, sources):
    """How many `sources` have more tokens than the model's `max_length`."""
    lengths = translator.source_tokenizer.tokenize(sources).row_lengths()
    return int((lengths.numpy() > translator.model.max_length).sum())


def translate_all(translator, sources, batch_size=BATCH_SIZE, verbose=True):
    """Translations of `sources`, in order. Sentences are decoded in
    batches of similar length (fewer padded steps, fewer compiled
    shapes), with a progress bar."""
    import keras

    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out = [None] * len(sources)
    progress = keras.utils.Progbar(
        len(sources), verbose=1 if verbose else 0, unit_name="sentence"
    )
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for i, text in zip(
            chunk, translator([sources[i] for i in chunk]), strict=True
        ):
            out[i] = text
        progress.add(len(chunk))
    return out


def evaluate_run(
    run_dir,
    data_dir=None,
    beam_size=None,
    verbose=True,
    quantize=None,
    exposure_bias=False,
):
    """`test_bleu` for a run on disk: loads its model, tokenizers and
    Multi30k test2016 (a custom corpus: the first `BLEU_PAIRS` lines of
    its validation split); with `quantize` ("int8", ...), of the model
    with its kernels quantized; with `exposure_bias`, also the
    teacher-forced against free-running scores (`zoo.translation.exposure`)."""
    run, record, cfg, model, tokenizers = load_run(run_dir)
    model = cli.quantized(model, quantize)
    if cfg.dataset == "custom":
        from zoo import corpus
        from zoo.translation import stream

        streamed = corpus.Corpus.from_record(record["corpus"])
        split, pair = "val", "custom"
        pairs = stream.validation_pairs(streamed)
    else:
        split, pair = "test2016", f"{record['src']}->{record['tgt']}"
        pairs = recipe.loaded(
            tr_data.load_pairs,
            cfg,
            record["src"],
            record["tgt"],
            data_dir or record.get("data_dir"),
            record.get("seed", 0),
        )[split]
    if exposure_bias:
        from zoo.translation import exposure

        result = exposure.measure(model, tokenizers, *pairs, verbose=verbose)
        exposure.write(run, result, f"Exposure bias, {pair} {split}")
    scores = test_bleu(
        run,
        cfg,
        model,
        tokenizers,
        pairs,
        beam_size,
        verbose,
        pair=pair,
        label=quantize,
        split=split,
    )
    return run.write_metrics(cli.labelled(scores, quantize))


def test_bleu(
    run,
    cfg,
    model,
    tokenizers,
    test,
    beam_size=None,
    verbose=True,
    pair="",
    label=None,
    split="test2016",
):
    """Decodes the test pairs `test` (sources, references), writes
    `SPLIT.hyp.txt` (with a `label`, `SPLIT.LABEL.hyp.txt`) into the run
    directory, prints the sacreBLEU line and signature (`pair` names the
    languages there). Returns the scores for metrics.json (`SPLIT_bleu`);
    `split` is `test2016` (Multi30k) or `val` (a custom corpus)."""
    import time

    sources, references = test
    # BLEU covers every test sentence, as published scores do: a source
    # longer than the model's max_length keeps its first tokens, and the
    # count is reported.
    translator = translator_for(
        cfg, model, tokenizers, beam_size, truncate_long_sources=True
    )
    truncated = count_long_sources(translator, sources)
    if truncated:
        print(
            f"{truncated} of {len(sources)} {split} sources are longer than "
            f"max_length={cfg.max_length} tokens: each keeps its first "
            f"{cfg.max_length} tokens."
        )
    start = time.perf_counter()
    hypotheses = translate_all(translator, sources, verbose=verbose)
    seconds = time.perf_counter() - start
    hyp_path = run.path / (
        f"{split}.{label}.hyp.txt" if label else f"{split}.hyp.txt"
    )
    files.write_text(hyp_path, "\n".join(hypotheses) + "\n")
    score, signature, details = bleu(hypotheses, references)
    by_length = bleu_by_length(sources, hypotheses, references)
    scores = {
        f"{split}_bleu": round(score, 2),
        f"{split}_bleu_by_length": by_length,
        "bleu_signature": signature,
        "bleu_details": details,
        "beam_size": translator.beam_size,
        "length_penalty": translator.length_penalty,
        "decode_seconds": round(seconds, 1),
        "sentences": len(sources),
        "truncated_sources": truncated,
    }
    print(details)
    print(f"sacreBLEU signature: {signature}")
    print(
        "BLEU by source length (words): "
        + ", ".join(
            f"{name} {v['bleu']} ({v['sentences']})"
            for name, v in by_length.items()
        )
    )
    print(
        f"{pair + ' ' if pair else ''}{split} BLEU {score:.2f} "
        f"(beam {translator.beam_size}, "
        f"{len(sources)} sentences decoded in {seconds:.0f} s); "
        f"hypotheses in {hyp_path}"
    )
    return scores


def evaluate_main(argv=None):
    parser = cli.run_parser(
        "evaluate",
        "sacreBLEU of a translation run on Multi30k test2016.",
        data_dir=True,
        quantize=True,
    )
    parser.add_argument(
        "--beam-size",
        type=cli.POSITIVE,
        help="1 = greedy (default: the preset's)",
    )
    parser.add_argument(
        "--exposure-bias",
        action="store_true",
        help="also score the test pairs given the reference prefix "
        "(teacher forcing) and given the model's own (greedy): "
        "exposure_bias.json and .png in the run",
    )
    args = parser.parse_args(argv)
    return evaluate_run(
        args.run_dir,
        args.data_dir,
        args.beam_size,
        quantize=args.quantize,
        exposure_bias=args.exposure_bias,
    )


def _file_name(text):
    return re.sub(r"[^\w]+", "_", text.lower()).strip("_")[:40] or "blank"


def translate_main(argv=None):
    parser = cli.run_parser(
        "translate",
        "Translate sentences with a run's model; saves the "
        "encoder-decoder attention of the first one as a PNG.",
    )
    parser.add_argument("sentences", nargs="+", help="source sentences")
    parser.add_argument("--beam-size", type=cli.POSITIVE, help="1 = greedy")
    parser.add_argument(
        "--plot",
        type=cli.OUTPUT_FILE,
        help="attention PNG path (default: in the run directory)",
    )
    args = parser.parse_args(argv)
    for i, sentence in enumerate(args.sentences):
        if not sentence.strip():
            raise cli.UsageError(
                f"Sentence {i + 1} is empty. Give the text to translate."
            )

    run, record, cfg, model, tokenizers = load_run(args.run_dir)
    for i, sentence in enumerate(args.sentences):
        length = int(tokenizers[0].tokenize(sentence).row_lengths()[0])
        if length > model.max_length:
            raise cli.UsageError(
                f"Sentence {i + 1} has {length} tokens; the model reads at "
                f"most max_length={model.max_length}. Split it."
            )
    translator = translator_for(cfg, model, tokenizers, args.beam_size)
    translations = translator(args.sentences)
    for source, target in zip(args.sentences, translations, strict=True):
        print(f"{source}\n  -> {target}")
    path = args.plot or run.path / (
        f"attention_{_file_name(args.sentences[0])}.png"
    )
    if plot_cross_attention(translator, args.sentences[0], path):
        print(f"Attention plot: {path}")
    else:
        print("No attention plot: this model has no attention.")
    return translations


def plot_cross_attention(translator, sentence, path):
    """Per-head encoder-decoder attention of the last decoder layer while
    the model reads the translation `translator` gives `sentence` (the
    one printed, beam search included)."""
    import numpy as np

    from keras_transformer.text import END_ID
    from keras_transformer.text import START_ID
    from keras_transformer.visualization import plot_attention_heads

    model = translator.model
    tokenizers = (translator.source_tokenizer, translator.target_tokenizer)
    src_ids = translator.source_ids([sentence])
    tokens, _ = translator.translate_ids(np.asarray(src_ids, "int32"))
    tokens = np.asarray(tokens)[0]
    ended = np.flatnonzero(tokens == END_ID)
    tokens = tokens[: ended[0] + 1 if ended.size else len(tokens)]
    src = np.asarray(src_ids)[0]
    src = src[src != 0]
    tgt_in = np.concatenate([[START_ID], tokens[:-1]])[None].astype("int32")
    if hasattr(model, "encode"):
        context, padding = model.encode(src[None].astype("int32"))
        _, scores = model.decode(
            tgt_in, context, padding, return_attention_scores=True
        )
        weights = np.asarray(scores[-1]["cross_attention"], "float32")[0]
        title = "Encoder-decoder attention, last decoder layer"
    else:  # the recurrent baseline: one attention, or none
        _, weights = model(
            (src[None].astype("int32"), tgt_in), return_attention_scores=True
        )
        if weights is None:
            return None
        weights = np.asarray(weights, "float32")[:1]
        title = "Bahdanau attention of the LSTM decoder"

    def labels(tokenizer, ids):
        return [
            t.decode("utf-8")
            for t in tokenizer.id_to_token(np.asarray(ids)).numpy()
        ]

    return plot_attention_heads(
        weights,
        labels(tokenizers[1], tokens),
        labels(tokenizers[0], src),
        path,
        title=title,
    )


def export_main(argv=None):
    parser = cli.run_parser(
        "export",
        "Write a SavedModel that maps strings to translations.",
    )
    parser.add_argument(
        "--out", required=True, type=cli.EXPORT_DIR, help="SavedModel folder"
    )
    parser.add_argument("--beam-size", type=cli.POSITIVE, help="1 = greedy")
    args = parser.parse_args(argv)

    run, record, cfg, model, tokenizers = load_run(args.run_dir)
    translator = translator_for(cfg, model, tokenizers, args.beam_size)
    path = translator.export(str(args.out))
    (path / "assets.extra").mkdir(exist_ok=True)
    files.write_text(
        path / "assets.extra" / "run.json",
        json.dumps({"command": record["command"], "config": record["config"]}),
    )
    print(
        f"SavedModel in {path}: tf.saved_model.load(path)"
        f'.signatures["serving_default"](text=tf.constant([...]))'
        '["translation"]'
    )
    return path
