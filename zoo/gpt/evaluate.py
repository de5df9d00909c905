"""Use a trained GPT run.

python -m zoo evaluate RUN_DIR                       validation loss
python -m zoo generate RUN_DIR --prompt "ROMEO:"     streams text
python -m zoo export RUN_DIR --out DIR               prompt-to-text SavedModel
"""

import json
import sys

from zoo import cli
from zoo import files
from zoo import recipe
from zoo import runs
from zoo.gpt import data as gpt_data


def load_run(run_dir):
    """`(run, record, cfg, model, tokenizer)` of a finished run."""
    run = runs.RunDir(run_dir)
    record, cfg, model = run.open("gpt")
    tokenizer = gpt_data.load_tokenizer(run.path)
    return run, record, cfg, model, tokenizer


def generate_text(
    model,
    tokenizer,
    prompt,
    max_new_tokens,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=0,
    stream=None,
):
    """`prompt` followed by `max_new_tokens` generated characters.

    The model reads at most `model.max_length` tokens, so text longer than
    that is made in chunks of a quarter of the window: each chunk is one
    compiled, cached sampling call whose prompt is the text so far,
    cropped on the left to the latest `max_length - chunk` tokens (the
    library's `long_prompt="crop"`, as nanoGPT crops it). `stream(piece)`
    gets each chunk's text as soon as it exists.
    """
    from keras_transformer.generation import sample

    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise cli.UsageError(
            "`max_new_tokens` must be an int >= 1. "
            f"Received: max_new_tokens={max_new_tokens!r}"
        )
    if not isinstance(prompt, str) or not prompt:
        raise cli.UsageError(
            "The prompt must be a non-empty string (it starts the text). "
            f"Received: {prompt!r}"
        )
    tokens = tokenizer.tokenize(prompt).flat_values.numpy().tolist()
    window = model.max_length
    chunk = max(1, window // 4)
    pieces = []
    made = 0
    for c in range(-(-max_new_tokens // chunk)):
        n = min(chunk, max_new_tokens - made)
        new, count = sample(
            model,
            [tokens],
            n,
            long_prompt="crop",
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=(seed * 1_000_003 + c) % 2**31,
        )
        new = new[0, : count[0]].tolist()
        tokens += new
        made += len(new)
        piece = tokenizer.detokenize([new]).numpy()[0].decode("utf-8")
        pieces.append(piece)
        if stream is not None:
            stream(piece)
    return prompt + "".join(pieces)


def evaluate_main(argv=None):
    parser = cli.run_parser(
        "evaluate",
        "Validation loss (nats per character) of a GPT run "
        "over the whole validation split.",
        data_dir=True,
        quantize=True,
    )
    args = parser.parse_args(argv)

    import numpy as np

    run, record, cfg, model, tokenizer = load_run(args.run_dir)
    model = cli.quantized(model, args.quantize)
    if cfg.dataset == "custom":
        from zoo import corpus
        from zoo.gpt import stream

        streamed = corpus.Corpus.from_record(record["corpus"])
        windows = stream.val_windows(streamed, tokenizer, cfg.context)
    else:
        text = recipe.loaded(
            gpt_data.load, cfg, args.data_dir or record.get("data_dir")
        )
        # Only the validation text: the training split is not needed here.
        val = np.asarray(tokenizer.tokenize(text["val"]).flat_values, "int32")
        windows = gpt_data.all_windows(val, cfg.context)
    loss, accuracy = model.evaluate(windows, verbose=0)
    kernels = f", {args.quantize} kernels" if args.quantize else ""
    print(
        f"{cfg.dataset} validation loss: {loss:.4f} nats per character "
        f"(accuracy {accuracy:.4f}; model {run.model}{kernels})"
    )
    run.write_metrics(
        cli.labelled(
            {"val_loss": float(loss), "val_accuracy": float(accuracy)},
            args.quantize,
        )
    )
    return loss


def add_sampling_arguments(parser):
    """The sampling options `generate` and `export` share."""
    parser.add_argument(
        "--temperature", type=cli.number(0.0), default=0.8, help="0 = greedy"
    )
    parser.add_argument(
        "--top-k",
        type=cli.POSITIVE,
        help="sample from the k most likely characters",
    )
    parser.add_argument(
        "--top-p",
        type=cli.number(0.0, 1.0, low_open=True),
        help="sample from the most likely characters whose probabilities "
        "add up to p (nucleus sampling)",
    )
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)


def check_sampling(args, tokenizer):
    """What the parser cannot know: `--top-k` must not exceed the
    vocabulary."""
    if args.top_k is not None and args.top_k > tokenizer.vocab_size:
        raise cli.UsageError(
            f"--top-k {args.top_k} is more than the run's vocabulary of "
            f"{tokenizer.vocab_size} characters."
        )


def generate_main(argv=None):
    parser = cli.run_parser(
        "generate",
        "Generate text with a GPT run, streamed as it comes.",
    )
    parser.add_argument("--prompt", default="\n", help="text to continue")
    parser.add_argument("--max-new-tokens", type=cli.POSITIVE, default=300)
    add_sampling_arguments(parser)
    args = parser.parse_args(argv)
    if not args.prompt:
        parser.error(
            "argument --prompt: must be a non-empty string (the text to "
            "continue)"
        )

    run, record, cfg, model, tokenizer = load_run(args.run_dir)
    check_sampling(args, tokenizer)
    try:  # unknown characters: an error first
        tokenizer.tokenize(args.prompt)
    except ValueError as e:
        raise cli.UsageError(f"--prompt: {e}") from None

    def stream(piece):
        sys.stdout.write(piece)
        sys.stdout.flush()

    stream(args.prompt)
    text = generate_text(
        model,
        tokenizer,
        args.prompt,
        args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        stream=stream,
    )
    stream("\n")
    return text


def export_main(argv=None):
    parser = cli.run_parser(
        "export",
        "Write a SavedModel that maps prompts to generated text.",
    )
    parser.add_argument(
        "--out", required=True, type=cli.EXPORT_DIR, help="SavedModel folder"
    )
    parser.add_argument(
        "--max-new-tokens",
        type=cli.POSITIVE,
        help="tokens per prompt (default: half the model's window)",
    )
    add_sampling_arguments(parser)
    args = parser.parse_args(argv)

    from keras_transformer.export import TextGenerator

    run, record, cfg, model, tokenizer = load_run(args.run_dir)
    check_sampling(args, tokenizer)
    generator = TextGenerator(
        model,
        tokenizer,
        max_new_tokens=args.max_new_tokens or model.max_length // 2,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        long_prompt="crop",  # a long prompt keeps its last tokens
    )
    path = generator.export(str(args.out))
    (path / "assets.extra").mkdir(exist_ok=True)
    files.write_text(
        path / "assets.extra" / "run.json",
        json.dumps({"command": record["command"], "config": record["config"]}),
    )
    print(
        f"SavedModel in {path}: tf.saved_model.load(path)"
        '.signatures["serving_default"](prompt=tf.constant([...]))["text"]'
    )
    return path
