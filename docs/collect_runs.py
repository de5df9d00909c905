"""Collects the experiment of `concepts/why-attention.md` from finished
Multi30k runs into `docs/data/`, where `docs/figures.py` draws it:

- `multi30k_by_length.json`: each run's test2016 BLEU, overall and by
  source length, its size and training time (figure `bleu_by_length.png`);
- `trained_lstm_gradients.json`: for each recurrent run, how much its
  trained encoder's last forward state depends on each of 64 source tokens
  of real test text, by distance (figure `gradient_distance.png`);
- `exposure_bias.json`: the Transformer run's teacher-forced against
  free-running scores, when `python -m zoo evaluate RUN --exposure-bias`
  has written them (figure `exposure_bias.png`).

    python -m zoo evaluate RUN          # each run: writes its BLEU by length
    python -m zoo evaluate runs/translation-de-en --exposure-bias
    KERAS_TRANSFORMER_DATA=... python docs/collect_runs.py \\
        runs/seq2seq-none-de-en runs/seq2seq-bahdanau-de-en \\
        runs/translation-de-en

The runs take half an hour each on a 2-core CPU, so their numbers are
committed; the figures are redrawn from them at every build.
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "data"
WINDOW, WINDOWS = 64, 32  # source tokens a window, windows averaged


def label(record):
    """How the docs name a run's model."""
    if record["task"] == "translation":
        return "Transformer"
    attention = record["config"]["attention"]
    return "LSTM, no attention" if attention == "none" else "LSTM + Bahdanau"


def collect(run_dirs):
    """One entry a run: its model, size, training time, test2016 BLEU
    overall and by source length, and the commands that made it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from zoo import runs

    models = []
    for path in run_dirs:
        run = runs.RunDir(path)
        record = run.load_finished(("translation", "seq2seq"))
        metrics = json.loads(run.metrics.read_text())
        if "test2016_bleu_by_length" not in metrics:
            raise SystemExit(
                f"{path} has no BLEU by length: run `python -m zoo "
                f"evaluate {path}` first"
            )
        models.append({
            "model": label(record),
            "parameters": metrics["parameters"],
            "train_seconds": round(metrics["train_seconds"]),
            "epochs": record["config"]["epochs"],
            "bleu": metrics["test2016_bleu"],
            "bleu_by_length": metrics["test2016_bleu_by_length"],
            "command": record["command"],
        })  # fmt: skip
    return {
        "test_set": "Multi30k test2016, German -> English, 1,000 pairs",
        "buckets": "source length in words (split on white space)",
        "models": models,
    }


def encoder_gradients(run_dir, data_dir=None):
    """Mean `||d probe.h_T / d x_t||` for the last `WINDOW` tokens `t` of
    `WINDOWS` stretches (fewer if the text is short) of test2016's sources
    (sentences joined into WordPiece tokens): `h_T` the last state of the
    trained encoder's forward LSTM, `x_t` the embedding of token `t`,
    `probe` a fixed random direction. Each stretch starts `WINDOW` tokens
    earlier, so that the LSTM's state is warm: from a zero state, the
    first few tokens of a stretch weigh on `h_T` most of all (they set the
    cell, which the forget gate then keeps), which is a start-of-text
    effect, not one of distance."""
    import numpy as np
    import tensorflow as tf

    from zoo import runs
    from zoo.translation import data as tr_data

    run = runs.RunDir(run_dir)
    record, cfg, model = run.open("seq2seq")
    sources = tr_data.load_pairs(
        cfg, record["src"], record["tgt"], data_dir or record.get("data_dir")
    )["test2016"][0]
    source_tokenizer = tr_data.load_tokenizers(run.path)[0]
    # Each sentence's pieces without its [START] and [END], one after
    # another: windows longer than any single test sentence.
    rows = source_tokenizer.tokenize(sources).to_list()
    ids = np.concatenate([row[1:-1] for row in rows])
    windows = min(WINDOWS, len(ids) // (2 * WINDOW))
    if not windows:
        raise SystemExit(
            f"{run_dir}: test2016 holds fewer than {2 * WINDOW} tokens"
        )
    ids = ids[: 2 * WINDOW * windows].reshape(windows, 2 * WINDOW)
    forward = model._encoder.forward_layer
    x = tf.constant(np.asarray(model._src_embedding(ids)))
    probe = tf.constant(np.random.default_rng(1).normal(
        size=(1, model.units)).astype("float32"))  # fmt: skip
    with tf.GradientTape() as tape:
        tape.watch(x)
        _, h, _ = forward(x)
        total = tf.reduce_sum(h * probe)
    norms = tf.norm(tape.gradient(total, x), axis=-1).numpy().mean(0)
    norms = norms[WINDOW:]
    return [float(f"{v:.4g}") for v in norms]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args(argv)
    data = collect(args.runs)
    gradients = {
        "window": WINDOW,
        "windows": WINDOWS,
        "text": "Multi30k test2016 sources, WordPiece tokens, joined",
        "runs": {
            entry["model"]: encoder_gradients(path)
            for path, entry in zip(args.runs, data["models"], strict=True)
            if entry["model"].startswith("LSTM")
        },
    }
    written = [
        ("multi30k_by_length.json", data),
        ("trained_lstm_gradients.json", gradients),
    ]
    # The Transformer's exposure bias (`zoo evaluate RUN --exposure-bias`),
    # which the teacher-forcing page draws.
    for path, entry in zip(args.runs, data["models"], strict=True):
        measured = pathlib.Path(path) / "exposure_bias.json"
        if entry["model"] == "Transformer" and measured.is_file():
            written.append(
                ("exposure_bias.json", json.loads(measured.read_text()))
            )
    for name, value in written:
        path = args.out / name
        path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
