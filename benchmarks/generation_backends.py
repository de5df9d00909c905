"""Batch-1 sampling speed of a small GPT on the current Keras backend,
with the decoding loop compiled and not.

A 2-layer, d_model 64, 4-head, d_ff 256 `GPT` over 65 tokens and a
128-token window continues an 8-token prompt by 100 tokens with the
default sampling (temperature 1, seed 0; no stop token, so every run
makes all 100). The median of `--rounds` runs after one warm-up run (the
warm-up, which compiles, is printed apart). Methods:

- `jit_compile=True`: what `sample` does by default (XLA on TensorFlow,
  `jax.jit` on JAX, eager without autograd on PyTorch);
- `jit_compile=False`: a `tf.function` without XLA on TensorFlow, eager
  elsewhere;
- with `--torch-compile` on PyTorch, also the loop under
  `torch.compile`, the alternative `compile_loop` does not take.

    KERAS_BACKEND=jax python benchmarks/generation_backends.py
    KERAS_BACKEND=torch OMP_NUM_THREADS=1 \\
        python benchmarks/generation_backends.py --torch-compile
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_transformer.generation import sample  # noqa: E402
from keras_transformer.generation import sampling  # noqa: E402
from keras_transformer.models import GPT  # noqa: E402

PROMPT = [[1, 2, 3, 4, 5, 6, 7, 8]]
NEW_TOKENS = 100


def small_gpt():
    keras.utils.set_random_seed(0)
    return GPT(
        vocab_size=65,
        max_length=128,
        num_layers=2,
        d_model=64,
        num_heads=4,
        d_ff=256,
        dropout_rate=0.0,
    )


def torch_compiled_loops():
    """Makes `sample` wrap its loop in `torch.compile` (for this
    comparison only: `compile_loop` runs it eagerly)."""
    import torch

    plain = sampling.compile_loop

    def compile_loop(model, key, make_fn, jit_compile):
        def make(model_ref):
            return torch.compile(make_fn(model_ref))

        return plain(model, ("torch.compile",) + key, make, jit_compile)

    sampling.compile_loop = compile_loop


def measure(jit_compile, rounds):
    """`(warm-up seconds, median seconds)` of one `sample` call."""
    model = small_gpt()

    def run():
        start = time.perf_counter()
        _, lengths = sample(
            model, PROMPT, NEW_TOKENS, seed=0, jit_compile=jit_compile
        )
        if int(lengths[0]) != NEW_TOKENS:
            raise RuntimeError(f"made {lengths[0]} tokens, not {NEW_TOKENS}")
        return time.perf_counter() - start

    first = run()
    return first, statistics.median(run() for _ in range(rounds))


def versions():
    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    version = __import__(module[backend]).__version__
    threads = ""
    if backend == "torch":
        import torch

        threads = f", {torch.get_num_threads()} torch threads"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores{threads}, Keras {keras.__version__}, {backend} {version}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--torch-compile", action="store_true")
    args = parser.parse_args(argv)
    methods = {"jit_compile=True": True, "jit_compile=False": False}
    results = {}
    print(f"# {versions()}; batch 1, {NEW_TOKENS} new tokens, sampling")
    for name, jit_compile in methods.items():
        results[name] = measure(jit_compile, args.rounds)
    if args.torch_compile and keras.backend.backend() == "torch":
        torch_compiled_loops()
        results["torch.compile"] = measure(True, args.rounds)
    for name, (first, seconds) in results.items():
        print(
            f"{keras.backend.backend():<10} {name:<18} "
            f"{NEW_TOKENS / seconds:>9,.0f} tokens/s "
            f"{1000 * seconds:>9.1f} ms per call (first call {first:.1f} s)",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
