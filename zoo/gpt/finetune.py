"""Fine-tune a trained GPT run on your own plain-text file (or train its
model from scratch on it: `--mode scratch`, the baseline).

    python -m zoo finetune gpt runs/gpt-shakespeare-nanogpt --data notes.txt

The text is split like Tiny Shakespeare: the first 90% trains, the last
10% (`--val-fraction`) measures. It is encoded with the run's character
tokenizer; the model's vocabulary is fixed (one embedding row per
character), so a character it does not know is an error that lists them,
unless `--replace-unknown TEXT` maps each to TEXT (`" "`, or `""` to drop
them). The training is the recipe's (AdamW, warm-up, cosine decay,
gradient clipping; `recipes.compile_gpt`) without weight decay, on random
windows of the run's context, validated every `--eval-interval` steps
over the whole validation text; the weights of the lowest validation loss
are kept. Prints the validation loss before and after, the number of
trained parameters, the time, and a sample of generated text; the output
folder takes `python -m zoo generate` like the base run.
"""

import argparse
import collections
import hashlib
import pathlib
import shutil
import time

from zoo import cli
from zoo import finetune
from zoo.cli import UsageError
from zoo.gpt import data as gpt_data
from zoo.gpt import evaluate as gpt_evaluate
from zoo.gpt.config import GPTConfig

# Adam's peak rate: the updates of LoRA start at zero and take larger
# steps; every weight at once takes smaller ones (the pre-trained model is
# the start). From scratch: the peak rate of the presets of this model's
# size (nanoGPT's shakespeare_char rate), the recipe, not a tuned one.
LEARNING_RATES = {"lora": 2e-3, "full": 2e-4, "scratch": 1e-3}
SAMPLE_LENGTH = 300


def _text_file(text):
    """`--data`: an existing file."""
    path = pathlib.Path(text).expanduser()
    if not path.is_file():
        reason = "is a folder" if path.is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{reason}; received {text!r}")
    return path


def add_arguments(parser):
    parser.add_argument(
        "--data", required=True, type=_text_file, help="UTF-8 plain-text file"
    )
    parser.add_argument(
        "--val-fraction",
        type=cli.number(0.0, 1.0, low_open=True, high_open=True),
        default=0.1,
        help="the end of the text kept for validation (default: 0.1)",
    )
    parser.add_argument(
        "--replace-unknown",
        metavar="TEXT",
        help="replace each character outside the run's vocabulary by TEXT "
        "(' ', or '' to drop them); default: refuse the text and list them",
    )
    parser.add_argument(
        "--iterations",
        type=cli.POSITIVE,
        default=200,
        help="optimizer steps (default: 200)",
    )
    parser.add_argument(
        "--eval-interval",
        type=cli.POSITIVE,
        default=20,
        help="steps between validations; divides --iterations (default: 20)",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.POSITIVE,
        help="windows per step (default: the run's)",
    )
    parser.add_argument(
        "--prompt",
        default="\n",
        help="start of the sample printed after (default: a new line)",
    )
    return parser


def read_text(path, tokenizer, replacement):
    """The text of `path`, each character outside the tokenizer's
    vocabulary replaced by `replacement` (an error listing them when it is
    `None`), and the count of those replaced."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"--data {path} is not UTF-8 text ({e.reason} at byte {e.start})."
        ) from None
    if not text.strip():
        raise UsageError(f"--data {path} holds no text.")
    known = set(tokenizer.characters)
    unknown = collections.Counter(c for c in text if c not in known)
    if not unknown:
        return text, unknown
    listed = ", ".join(f"{c!r} x{n}" for c, n in unknown.most_common(20))
    more = len(unknown) - 20
    listed += f" and {more} more" if more > 0 else ""
    if replacement is None:
        raise UsageError(
            f"--data {path} has {sum(unknown.values())} characters outside "
            f"the run's vocabulary of {tokenizer.vocab_size} ({listed}). "
            "Edit them out, or pass --replace-unknown ' ' (or '') to turn "
            "each into a space (or drop it)."
        )
    return "".join(c if c in known else replacement for c in text), unknown


def split(text, fraction, context, path):
    """`{"train": text, "val": text}`: the last `fraction` validates; each
    part must hold a window of `context` + 1 characters."""
    cut = int(len(text) * (1 - fraction))
    parts = {"train": text[:cut], "val": text[cut:]}
    for name, part in parts.items():
        if len(part) <= context:
            raise UsageError(
                f"--data {path}: its {name} part has {len(part)} characters "
                f"({len(text)} in all, the last {fraction:g} validates), "
                f"fewer than a window of the model (context {context} + 1). "
                "Give a longer text or another --val-fraction."
            )
    return parts


def finetune_main(argv=None):
    parser = add_arguments(
        finetune.parser(
            "gpt",
            "Fine-tune a GPT run on a plain-text file (LoRA or full), or "
            "train its model from scratch on it.",
            LEARNING_RATES,
        )
    )
    args = parser.parse_args(argv)
    settings = finetune.settings(args, parser, LEARNING_RATES)
    if args.iterations % min(args.eval_interval, args.iterations):
        parser.error(
            f"argument --iterations: {args.iterations} is not a multiple of "
            f"--eval-interval {args.eval_interval}"
        )
    if not args.prompt:
        parser.error("argument --prompt: must be a non-empty string")

    # Every check before the model is loaded, nothing written until the end.
    run, base = finetune.open_base(args, "gpt")
    cfg = GPTConfig(**base["config"])
    tokenizer = gpt_data.load_tokenizer(run.path)
    if args.replace_unknown:
        bad = sorted(set(args.replace_unknown) - set(tokenizer.characters))
        if bad:
            raise UsageError(
                f"--replace-unknown {args.replace_unknown!r} has characters "
                f"outside the run's vocabulary: {bad}."
            )
    try:
        tokenizer.tokenize(args.prompt)
    except ValueError as e:
        raise UsageError(f"--prompt: {e}") from None
    text, replaced = read_text(args.data, tokenizer, args.replace_unknown)
    parts = split(text, args.val_fraction, cfg.context, args.data)
    raw = args.data.read_bytes()
    eval_interval = min(args.eval_interval, args.iterations)
    settings.update(
        data=str(args.data.resolve()),
        data_sha256=hashlib.sha256(raw).hexdigest(),
        val_fraction=args.val_fraction,
        replace_unknown=args.replace_unknown,
        iterations=args.iterations,
        eval_interval=eval_interval,
        batch_size=args.batch_size or cfg.batch_size,
    )
    config = finetune.record("gpt", run, base, settings)
    out, finished = finetune.output(args, run, args.data.stem, config)
    if finished:
        return finetune.print_finished(out)

    from keras_transformer import recipes

    started = time.perf_counter()
    model, parameters, trainable = finetune.start(
        run, base, settings, args.seed
    )
    _, ids = gpt_data.encode_text(run.path, parts, verbose=False)
    note = f"; {sum(replaced.values())} replaced" if replaced else ""
    print(
        f"Text: {args.data}, {len(text):,} characters{note}: "
        f"{len(ids['train']):,} train / {len(ids['val']):,} validation "
        f"(the last {args.val_fraction:.0%})"
    )
    print(finetune.describe(settings, parameters, trainable))
    batch_size = settings["batch_size"]
    train_data = gpt_data.random_windows(
        ids["train"], cfg.context, batch_size, args.seed
    )
    val_data = gpt_data.all_windows(ids["val"], cfg.context)

    def compile_model(model):
        recipes.compile_gpt(
            model,
            learning_rate=settings["learning_rate"],
            weight_decay=0.0,
            warmup_steps=args.iterations // 10,
            total_steps=args.iterations,
            beta_2=cfg.beta_2,
            grad_clip=cfg.grad_clip,
            jit_compile=not args.no_jit,
        )

    compile_model(model)
    before = model.evaluate(val_data, verbose=0, return_dict=True)
    print(f"Validation loss before: {before['loss']:.4f} nats per character")
    history, seconds, kept = finetune.train(
        model,
        train_data,
        val_data,
        args.iterations // eval_interval,
        eval_interval,
        before["loss"],
    )
    after = model.evaluate(val_data, verbose=0, return_dict=True)
    sample = gpt_evaluate.generate_text(
        model,
        tokenizer,
        args.prompt,
        SAMPLE_LENGTH,
        temperature=0.8,
        top_k=min(40, tokenizer.vocab_size),
        seed=args.seed,
    )
    metrics = {
        "val_loss_before": float(before["loss"]),
        "val_loss_after": float(after["loss"]),
        "val_accuracy_before": float(before["accuracy"]),
        "val_accuracy_after": float(after["accuracy"]),
        "kept_epoch": kept,
        "epochs_run": len(history.get("loss", [])),
        "steps_per_epoch": eval_interval,
        "trainable_parameters": int(trainable),
        "parameters": int(parameters),
        "train_characters": len(ids["train"]),
        "val_characters": len(ids["val"]),
        "replaced_characters": sum(replaced.values()),
        "train_seconds": round(seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }

    def extra(folder):
        tokenizer_dir = gpt_data.TOKENIZER_DIR
        shutil.copytree(run.path / tokenizer_dir, folder / tokenizer_dir)
        (folder / "sample.txt").write_text(sample + "\n", encoding="utf-8")

    title = f"GPT fine-tuning ({settings['mode']}) on {args.data.name}"
    metrics = finetune.save(
        out, config, model, metrics, history, title, compile_model, extra
    )
    print(
        f"Validation loss after: {after['loss']:.4f} (before "
        f"{before['loss']:.4f}; "
        f"{finetune.kept_note(kept, metrics['epochs_run'])}); "
        f"{trainable:,} parameters trained "
        f"for {seconds:.0f} s\n--- sample ---\n{sample}\n---\n"
        f"Trained model: {out / 'model.keras'}"
        + (" (LoRA merged into the kernels)" if args.mode == "lora" else "")
    )
    return metrics
