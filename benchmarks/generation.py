"""Generation speed of our cached, compiled GPT sampler.

Tokens per second at two sizes (random weights: speed does not depend on
them):

- `--size small` (default): 128 new tokens after a 16-token prompt, at
  batch 1 and 16, with a 4-layer, d_model 128, 4-head, d_ff 512 model
  over a 65-token vocabulary and a 256-token context: the regime where
  per-step overhead, not arithmetic, decides;
- `--size gpt2`: 64 new tokens after a 32-token prompt, at batch 1, 8
  and 32, with GPT-2 small (12 layers, d_model 768, 12 heads, d_ff 3072,
  50,257 tokens, 1,024 positions, the token table tied to the output:
  124M weights), where each step reads every weight once.

Methods:

- ours: `keras_transformer.generation.sample` on a `GPT`, greedy, one
  compiled (XLA) loop with the key/value cache;
- ours, uncached: the same sampler re-running the model over the whole
  prefix at every step, eagerly (the naive loop);
- keras-hub: `GPT2CausalLM.generate` (greedy sampler, compiled) on a
  `GPT2Backbone` of the same size.

The methods alternate within each round and the median round is kept, so
load on the machine hits all alike. Greedy everywhere, so that all do the
same work per token (no stop token: every run makes all its tokens).

Each row also prints its fraction of the machine's limit, measured in
the same process (`benchmarks/limits.py`): the time the run would take if
every pass only read each weight once at the read bandwidth or only did
its arithmetic at the matmul peak, whichever is longer: the prefill (2
operations per weight and prompt token) and then one step per new token
(2 per weight and row). The weights counted are those a step multiplies
by: the position table is left out, and the token table is counted when
it is also the output layer. A second fraction compares with the time
XLA takes for the same matrix products alone, one after another as the
layers run them (`products_seconds`): the gap between the two fractions
is XLA's matrix-vector kernels, which stream these 2-150 MB matrices
more slowly than the 512 MB one the read bandwidth is measured on; what
is left is everything else in a step.

    pip install keras-hub       # benchmark-only dependency
    python benchmarks/generation.py
    python benchmarks/generation.py --size gpt2
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from limits import matmul_peak  # noqa: E402
from limits import products_seconds  # noqa: E402
from limits import read_bandwidth  # noqa: E402
from limits import step_weights  # noqa: E402

from keras_transformer.generation import sample  # noqa: E402
from keras_transformer.models import GPT  # noqa: E402

SIZES = {
    "small": dict(
        num_layers=4,
        d_model=128,
        num_heads=4,
        d_ff=512,
        vocab=65,
        context=256,
        tied=False,
        batch_sizes=[1, 16],
        prompt_length=16,
        new_tokens=128,
    ),
    "gpt2": dict(
        num_layers=12,
        d_model=768,
        num_heads=12,
        d_ff=3072,
        vocab=50257,
        context=1024,
        tied=True,
        batch_sizes=[1, 8, 32],
        prompt_length=32,
        new_tokens=64,
    ),
}
ARCHITECTURE = ("num_layers", "d_model", "num_heads", "d_ff", "vocab")


def ours(size):
    return GPT(
        vocab_size=size["vocab"],
        max_length=size["context"],
        num_layers=size["num_layers"],
        d_model=size["d_model"],
        num_heads=size["num_heads"],
        d_ff=size["d_ff"],
        dropout_rate=0.0,
        tie_embeddings=size["tied"],
    )


def keras_hub_lm(size):
    import keras_hub

    # keras-hub's GPT-2 always ties its output to the token table; ours
    # is untied at the small size, which at 65 tokens is 8k more weights.
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=size["vocab"],
        num_layers=size["num_layers"],
        num_heads=size["num_heads"],
        hidden_dim=size["d_model"],
        intermediate_dim=size["d_ff"],
        dropout=0.0,
        max_sequence_length=size["context"],
    )
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(sampler="greedy")
    return lm


def product_shapes(model):
    """`(inputs, outputs)` of every matrix a step multiplies by: the
    kernels, and the token table read as the output layer when tied."""
    shapes = []
    for weight in step_weights(model):
        if weight.path.endswith("kernel"):
            shapes.append(tuple(weight.shape))
        elif "token_embedding" in weight.path:  # read only when tied
            shapes.append(tuple(weight.shape)[::-1])
    return shapes


def methods(size, model, batch, prompt_length, new_tokens, skip_uncached):
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, size["vocab"], size=(batch, prompt_length))
    prompt = prompt.astype("int32")
    lm = keras_hub_lm(size)
    total = prompt_length + new_tokens
    hub_inputs = {
        "token_ids": np.pad(prompt, ((0, 0), (0, new_tokens))),
        "padding_mask": np.arange(total)[None].repeat(batch, 0) < prompt_length,
    }
    runs = {
        "ours, cached, XLA": lambda: sample(
            model, prompt, new_tokens, temperature=0.0
        ),
        "keras-hub GPT2CausalLM": lambda: lm.generate(
            hub_inputs, stop_token_ids=None
        ),
    }
    if not skip_uncached:
        runs["ours, uncached"] = lambda: sample(
            model, prompt, new_tokens, temperature=0.0, use_cache=False
        )
    return runs


def measure(runs, rounds, slow_rounds=1):
    """Median seconds per call of each method, alternating; the uncached
    loop (seconds per call) gets `slow_rounds`."""
    for run in runs.values():  # compile and warm up
        run()
    times = {name: [] for name in runs}
    for r in range(rounds):
        for name, run in runs.items():
            if "uncached" in name and r >= slow_rounds:
                continue
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", help="default: the size's"
    )
    parser.add_argument("--prompt-length", type=int)
    parser.add_argument("--new-tokens", type=int)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--skip-uncached",
        action="store_true",
        help="(always skipped at --size gpt2: seconds per token)",
    )
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    batch_sizes = args.batch_sizes or size["batch_sizes"]
    prompt_length = args.prompt_length or size["prompt_length"]
    new_tokens = args.new_tokens or size["new_tokens"]
    skip_uncached = args.skip_uncached or args.size == "gpt2"

    import keras_hub

    keras.utils.set_random_seed(0)
    model = ours(size)
    weights = sum(int(np.prod(w.shape)) for w in step_weights(model))
    bandwidth = read_bandwidth()
    peak = matmul_peak("float32")
    shapes = product_shapes(model)
    architecture = {k: size[k] for k in ARCHITECTURE}
    print(
        f"# {cpu_name()}, {os.cpu_count()} cores, TF {tf.__version__}, "
        f"Keras {keras.__version__}, keras-hub {keras_hub.__version__}; "
        f"{architecture}, {weights / 1e6:.1f}M weights per step; "
        f"{prompt_length}-token prompt, {new_tokens} new tokens, greedy; "
        f"median of {args.rounds} rounds"
    )
    print(
        f"# limits measured now: read bandwidth {bandwidth / 1e9:.1f} GB/s "
        f"(one pass over the weights: {4e3 * weights / bandwidth:.1f} ms), "
        f"float32 matmul peak {peak / 1e9:.0f} GFLOP/s"
    )
    print(
        "# 'of limit': the fastest time the read bandwidth and the peak "
        "allow over the measured time; 'of XLA': the time of the same "
        "matrix products alone, compiled, over the measured time"
    )
    print(
        f"{'batch':>5}  {'method':<24}{'tokens/s':>10}{'ms/step':>10}"
        f"{'of limit':>10}{'of XLA':>8}"
    )
    results = {}
    for batch in batch_sizes:
        read = 4 * weights / bandwidth
        prefill = max(read, 2 * weights * batch * prompt_length / peak)
        step = max(read, 2 * weights * batch / peak)
        fastest = prefill + (new_tokens - 1) * step
        products = products_seconds(
            shapes, batch * prompt_length
        ) + products_seconds(shapes, batch, passes=new_tokens - 1)
        runs = methods(
            size, model, batch, prompt_length, new_tokens, skip_uncached
        )
        seconds = measure(runs, args.rounds)
        speed = {}
        for name, s in seconds.items():
            speed[name] = batch * new_tokens / s
            print(
                f"{batch:>5}  {name:<24}{speed[name]:>10,.0f}"
                f"{1000 * s / new_tokens:>10.2f}"
                f"{fastest / s:>10.0%}{products / s:>8.0%}",
                flush=True,
            )
        ours_speed = speed["ours, cached, XLA"]
        hub = ours_speed / speed["keras-hub GPT2CausalLM"]
        line = f"{'':>5}  ours / keras-hub: {hub:.2f}x"
        if "ours, uncached" in speed:
            naive = ours_speed / speed["ours, uncached"]
            line += f"; ours / uncached: {naive:.1f}x"
        print(line)
        results[batch] = speed
    return results


if __name__ == "__main__":
    main()
