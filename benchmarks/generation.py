"""Generation speed of our cached, compiled GPT sampler.

Tokens per second for 128 new tokens after a 16-token prompt, at batch 1
and batch 16, with a 4-layer, d_model 128, 4-head, d_ff 512 model over a
65-token vocabulary and a 256-token context (random weights: speed does
not depend on them), for:

- ours: `keras_transformer.generation.sample` on a `GPT`, greedy, one
  compiled (XLA) loop with the key/value cache;
- ours, uncached: the same sampler re-running the model over the whole
  prefix at every step, eagerly (the naive loop);
- keras-hub: `GPT2CausalLM.generate` (greedy sampler, compiled) on a
  `GPT2Backbone` of the same size.

The methods alternate within each round and the median round is kept, so
load on the machine hits all alike. Greedy everywhere, so that all do the
same work per token (no stop token: every run makes all 128 tokens).

    pip install keras-hub       # benchmark-only dependency
    python benchmarks/generation.py
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

from keras_transformer.generation import sample  # noqa: E402
from keras_transformer.models import GPT  # noqa: E402

SIZE = dict(
    num_layers=4, d_model=128, num_heads=4, d_ff=512, vocab=65, context=256
)


def ours():
    return GPT(
        vocab_size=SIZE["vocab"],
        max_length=SIZE["context"],
        num_layers=SIZE["num_layers"],
        d_model=SIZE["d_model"],
        num_heads=SIZE["num_heads"],
        d_ff=SIZE["d_ff"],
        dropout_rate=0.0,
    )


def keras_hub_lm():
    import keras_hub

    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=SIZE["vocab"],
        num_layers=SIZE["num_layers"],
        num_heads=SIZE["num_heads"],
        hidden_dim=SIZE["d_model"],
        intermediate_dim=SIZE["d_ff"],
        dropout=0.0,
        max_sequence_length=SIZE["context"],
    )
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(sampler="greedy")
    return lm


def methods(batch, prompt_length, new_tokens, skip_uncached):
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, SIZE["vocab"], size=(batch, prompt_length))
    prompt = prompt.astype("int32")
    model = ours()
    lm = keras_hub_lm()
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-uncached", action="store_true")
    args = parser.parse_args(argv)

    import keras_hub

    print(
        f"# {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, TF {tf.__version__}, Keras "
        f"{keras.__version__}, keras-hub {keras_hub.__version__}; {SIZE}; "
        f"{args.prompt_length}-token prompt, {args.new_tokens} new tokens, "
        f"greedy; median of {args.rounds} rounds"
    )
    print(f"{'batch':>5}  {'method':<24}{'tokens/s':>10}{'ms/token':>10}")
    results = {}
    for batch in args.batch_sizes:
        keras.utils.set_random_seed(0)
        runs = methods(
            batch, args.prompt_length, args.new_tokens, args.skip_uncached
        )
        seconds = measure(runs, args.rounds)
        speed = {}
        for name, s in seconds.items():
            speed[name] = batch * args.new_tokens / s
            print(
                f"{batch:>5}  {name:<24}{speed[name]:>10,.0f}"
                f"{1000 * s / args.new_tokens:>10.2f}",
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
