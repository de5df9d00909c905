"""Exposure bias, measured: one model and one set of test pairs, scored
given the reference prefix (teacher forcing, as in training) and given its
own prefix (free running, greedy, as in use).

- Token accuracy by position: teacher-forced, the share of positions `t`
  where the most likely next token is the reference's, given the
  reference's first `t` tokens; free-running, the share where the greedy
  translation's `t`-th token is the reference's (one early slip shifts
  every later token, which is exactly the compounding at stake).
- BLEU: of the teacher-forced predictions (each position's most likely
  token, read as a sentence) and of the greedy translations.

`python -m zoo evaluate RUN_DIR --exposure-bias` runs it on a translation
or seq2seq run and writes `exposure_bias.json` and `exposure_bias.png`.
"""

import json

from zoo import files

BATCH_SIZE = 64


def _cut(row, end_id):
    """The tokens before the first `end_id`."""
    row = list(row)
    return row[: row.index(end_id)] if end_id in row else row


def measure(model, tokenizers, sources, references, verbose=True):
    """The figures above for the pairs `(sources, references)`: a dict
    with `teacher_forced` and `free_running` entries (token accuracy,
    BLEU, accuracy by position) and the number of sentences."""
    import keras
    import numpy as np

    from keras_transformer import generation
    from keras_transformer.text import END_ID
    from keras_transformer.text import START_ID
    from zoo.translation.scores import bleu

    source_tok, target_tok = tokenizers
    limit = model.max_length
    n = len(sources)
    order = sorted(range(n), key=lambda i: len(references[i]))
    correct = {
        "teacher_forced": np.zeros(limit),
        "free_running": np.zeros(limit),
    }
    counted = np.zeros(limit)
    texts = {"teacher_forced": [None] * n, "free_running": [None] * n}
    progress = keras.utils.Progbar(
        n, verbose=int(verbose), unit_name="sentence"
    )
    for start in range(0, n, BATCH_SIZE):
        chunk = order[start : start + BATCH_SIZE]
        src = source_tok.tokenize([sources[i] for i in chunk])[:, :limit]
        src = np.asarray(src.to_tensor(), "int32")
        tgt = target_tok.tokenize([references[i] for i in chunk])
        tgt = np.asarray(tgt[:, : limit + 1].to_tensor(), "int32")
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
        real = tgt_out != 0
        logits = model((src, tgt_in))
        forced = np.asarray(keras.ops.argmax(logits, -1))
        free, _ = generation.greedy_search(
            model, src, limit, START_ID, END_ID, pad_id=0
        )
        free = np.asarray(free)
        width = tgt_out.shape[1]
        free = np.pad(free, ((0, 0), (0, max(0, width - free.shape[1]))))
        for name, tokens in (
            ("teacher_forced", forced),
            ("free_running", free),
        ):
            hits = (tokens[:, :width] == tgt_out) & real
            correct[name][:width] += hits.sum(0)
        counted[:width] += real.sum(0)
        for j, i in enumerate(chunk):
            length = int(real[j].sum())
            rows = {
                "teacher_forced": _cut(forced[j, :length], END_ID),
                "free_running": _cut(free[j], END_ID),
            }
            for name, row in rows.items():
                text = target_tok.detokenize([row or [0]]).numpy()[0]
                texts[name][i] = text.decode("utf-8")
        progress.add(len(chunk))
    used = counted > 0
    out = {"sentences": n}
    for name in texts:
        out[name] = {
            "token_accuracy": float(correct[name].sum() / counted.sum()),
            "bleu": round(bleu(texts[name], references)[0], 2),
            "accuracy_by_position": [
                round(float(c / m), 4)
                for c, m in zip(correct[name][used], counted[used], strict=True)
            ],
        }
    out["tokens_by_position"] = [int(m) for m in counted[used]]
    return out


def plot(result, path, title):
    """Token accuracy by target position, teacher-forced and free-running,
    for the positions that at least 50 test sentences reach."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reached = [m >= 50 for m in result["tokens_by_position"]]
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    for name, label in (
        ("teacher_forced", "given the reference prefix (teacher forcing)"),
        ("free_running", "given its own prefix (greedy)"),
    ):
        values = [
            v
            for v, keep in zip(
                result[name]["accuracy_by_position"], reached, strict=True
            )
            if keep
        ]
        ax.plot(
            range(1, len(values) + 1),
            values,
            marker=".",
            label=f"{label}: BLEU {result[name]['bleu']:.1f}",
        )
    ax.set_xlabel("target position (WordPiece tokens)")
    ax.set_ylabel("token accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(run, result, title):
    """`exposure_bias.json` and `exposure_bias.png` in the run directory."""
    files.write_text(
        run.path / "exposure_bias.json", json.dumps(result, indent=1) + "\n"
    )
    plot(result, run.path / "exposure_bias.png", title)
    for name in ("teacher_forced", "free_running"):
        print(
            f"{name.replace('_', '-')}: token accuracy "
            f"{result[name]['token_accuracy']:.4f}, BLEU "
            f"{result[name]['bleu']:.2f}"
        )
    print(f"Exposure bias: {run.path / 'exposure_bias.json'}, .png")
