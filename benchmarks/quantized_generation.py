"""Batch-1 generation speed of a GPT run's model: float32 against int8.

Loads `RUN_DIR/model.keras` twice (or, with `--gpt2` instead of a run,
makes a GPT-2-small-size GPT with random weights twice: 12 layers,
d_model 768, 50,257 tokens, tied output), quantizes one copy to int8 (or
the mode given), and times the cached, compiled sampler making
`--new-tokens` tokens after a `--prompt-length`-token prompt, greedy, at
batch 1. The two models alternate within each round and the median round
is kept, so load on the machine hits both alike. Also prints how many
leading tokens the two greedy continuations share, and each speed as a
fraction of the read-bandwidth limit of its weights' bytes (see
`benchmarks/limits.py`; int8 weights are a quarter of float32's).

    python benchmarks/quantized_generation.py runs/gpt-shakespeare-nanogpt
    python benchmarks/quantized_generation.py --gpt2
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import generation  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from limits import read_bandwidth  # noqa: E402
from limits import step_weights  # noqa: E402

import keras_transformer  # noqa: E402, F401 (registers the saved classes)
from keras_transformer.generation import sample  # noqa: E402


def load(path, mode):
    if path is None:
        keras.utils.set_random_seed(0)  # the same weights for both copies
        model = generation.ours(generation.SIZES["gpt2"])
    else:
        model = keras.saving.load_model(path, compile=False)
    if mode != "float32":
        model.quantize(mode)
    return model


def step_bytes(model):
    """Bytes of the weights a decoding step reads."""
    return sum(
        int(np.prod(w.shape))
        * np.dtype(keras.backend.standardize_dtype(w.dtype)).itemsize
        for w in step_weights(model)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument(
        "--gpt2", action="store_true", help="a random GPT-2-size model"
    )
    parser.add_argument("--mode", default="int8", choices=["int8", "int4"])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    if (args.run_dir is None) == (not args.gpt2):
        parser.error("give a run directory or --gpt2 (one of the two)")
    path = args.run_dir and os.path.join(args.run_dir, "model.keras")
    models = {name: load(path, name) for name in ("float32", args.mode)}
    window = next(iter(models.values())).max_length
    if args.prompt_length + args.new_tokens > window:
        parser.error(
            f"--prompt-length + --new-tokens must fit the model's window "
            f"of {window} tokens"
        )
    rng = np.random.default_rng(0)
    vocab = next(iter(models.values())).vocab_size
    prompt = [rng.integers(1, vocab, args.prompt_length).tolist()]

    def run(model):
        tokens, _ = sample(
            model, prompt, args.new_tokens, temperature=0.0, seed=0
        )
        return np.asarray(tokens)

    outputs = {name: run(model) for name, model in models.items()}  # compile
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            run(model)
            times[name].append(time.perf_counter() - start)
    bandwidth = read_bandwidth()
    print(
        f"{platform.processor() or platform.machine()}, "
        f"keras {keras.__version__} ({keras.backend.backend()}); batch 1, "
        f"{args.prompt_length}-token prompt, {args.new_tokens} new tokens, "
        f"greedy; median of {args.rounds} rounds"
    )
    print(f"read bandwidth measured now: {bandwidth / 1e9:.1f} GB/s")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        speed = args.new_tokens / median
        limit = bandwidth / step_bytes(models[name])
        print(
            f"{name:8s} {speed:8.1f} tokens/s ({median * 1000:.0f} ms); "
            f"{step_bytes(models[name]) / 1e6:.0f} MB of weights per step, "
            f"{speed / limit:.0%} of the {limit:.0f} tokens/s they allow"
        )
    ratio = statistics.median(times["float32"]) / statistics.median(
        times[args.mode]
    )
    differ = np.flatnonzero(outputs["float32"][0] != outputs[args.mode][0])
    same = int(differ[0]) if differ.size else args.new_tokens
    print(
        f"{args.mode} / float32 speed: {ratio:.2f}x; the greedy "
        f"continuations agree on their first {same} of {args.new_tokens} "
        "tokens"
    )


if __name__ == "__main__":
    main()
