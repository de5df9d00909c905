"""`--precision auto`, the default of `python -m zoo train`: the dtype
policy and compiler that train a model of this size fastest on this
machine, as measured on a 2-core AMD EPYC with AVX512_BF16 (zoo/README.md,
"Precision").

oneDNN multiplies bfloat16 matrices at about twice its float32 rate on a
CPU with bfloat16 instructions (AVX512_BF16 or AMX), but XLA's CPU
compiler does not use them: under XLA, `mixed_bfloat16` trains slower than
float32. TensorFlow's graph mode does use them, so `mixed_bfloat16`
without XLA wins where the matrix products dominate the step, from
d_model 256 up (1.44x float32 under XLA at d_model 512). Below that, the
rest of the step (casts, norms, softmax, which XLA fuses) costs more than
the products save, and float32 under XLA stays the fastest. Everywhere
else (no bfloat16 instructions, JAX or PyTorch, a GPU, several machines
under `--strategy multiworker`) `auto` is float32 under XLA, as before.

An explicit `--precision` (and `--no-jit`) is taken as given. A run
directory that holds a run keeps the precision it was started with, so
that resuming it on another machine trains on as it began.
"""

import pathlib

# From d_model 256 up, mixed_bfloat16 without XLA trains faster than
# float32 with it (zoo/README.md, "Precision").
BFLOAT16_FROM_D_MODEL = 256
# /proc/cpuinfo flags of x86 bfloat16 matrix instructions.
_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU multiplies bfloat16 matrices in hardware
    (AVX512_BF16 or AMX on x86, read from `cpuinfo`); False where the
    file cannot be read (not Linux)."""
    try:
        text = pathlib.Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return bool(_BFLOAT16_FLAGS & set(value.split()))
    return False


def _gpu():
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def choose(precision, jit_compile, d_model, recorded=None, machines=1):
    """`(policy, jit_compile, reason)` for `--precision precision` on a
    model of width `d_model` (`None`: a model that is not a Transformer,
    for which bfloat16 was not measured): a named policy as given; `auto` the
    `recorded` `(policy, jit_compile or None)` of the run being resumed,
    else the fastest here. A run on several `machines` (which need not
    have the same CPU, and must all train alike) gets float32."""
    if precision != "auto":
        return precision, jit_compile, "as given"
    if recorded is not None:
        policy, recorded_jit = recorded
        if recorded_jit is not None:
            jit_compile = recorded_jit
        return policy, jit_compile, "the run's own"
    import keras

    if keras.backend.backend() != "tensorflow":
        reason = f"the {keras.backend.backend()} backend"
    elif machines > 1:
        reason = "several machines, whose CPUs may differ"
    elif not cpu_bfloat16():
        reason = "no bfloat16 instructions on this CPU"
    elif _gpu():
        reason = "a GPU is visible"
    elif d_model is None:
        reason = "bfloat16 is measured for the Transformer families only"
    elif d_model < BFLOAT16_FROM_D_MODEL:
        reason = f"d_model {d_model} < {BFLOAT16_FROM_D_MODEL}"
    else:
        return (
            "mixed_bfloat16",
            False,
            f"d_model {d_model} >= {BFLOAT16_FROM_D_MODEL} on a CPU with "
            "bfloat16 instructions, which XLA does not use",
        )
    return "float32", jit_compile, reason
