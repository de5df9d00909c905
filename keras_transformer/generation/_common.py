"""What the decoding loops share: argument checks, the sampling settings,
the "impossible" score and the cache of compiled loops."""

import dataclasses
import math
import numbers
import weakref

import keras
from keras import ops

# A logit or log-probability that stands for "impossible": far below any
# real one, yet finite, so that sums and differences of scores stay
# finite (no inf - inf). A filter that drops a token writes it; code that
# needs to know which tokens were dropped uses a boolean keep-mask, never
# a comparison with this value.
MASKED = -1e9

_compiled = weakref.WeakKeyDictionary()


def compile_loop(model, key, make_fn, jit_compile):
    """`make_fn(model_ref)` compiled as one graph, kept per model and `key`.

    The function reaches the model through a weak reference, so that the
    cache entry does not keep the model alive: it goes with the model.
    Each backend compiles here, and only here:

    - TensorFlow: `tf.function`, with XLA when `jit_compile`;
    - JAX: `jax.jit` when `jit_compile`, else eager. The model's
      variables are arguments of the compiled function (read through a
      `keras.StatelessScope`), not constants baked into it: a later
      change of the weights is seen, and does not recompile;
    - PyTorch: eager, without autograd. `torch.compile` breaks the graph
      at every step of the decoding loop (a Python `while` on a tensor
      condition): on a small GPT it took two minutes to compile and then
      sampled 3x slower than eager (see
      `benchmarks/generation_backends.py`).
    """
    functions = _compiled.setdefault(model, {})
    key = key + (jit_compile,)
    if key not in functions:
        model_ref = weakref.ref(model)
        fn = make_fn(model_ref)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            fn = tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)
        elif backend == "jax" and jit_compile:
            fn = _jax_jit(fn, model_ref)
        elif backend == "torch":
            fn = _torch_no_grad(fn)
        functions[key] = fn
    return functions[key]


def _layers(model):
    """The Keras layers that hold the decoder's weights: the model itself,
    or, for a plain object wrapping models, its attributes that are."""
    if isinstance(model, keras.Layer):
        return [model]
    attributes = getattr(model, "__dict__", {}).values()
    return [v for v in attributes if isinstance(v, keras.Layer)]


def _variables(model):
    found = {}
    for layer in _layers(model):
        for variable in layer.variables:
            found.setdefault(id(variable), variable)
    return list(found.values())


def _jax_jit(fn, model_ref):
    """`fn` under `jax.jit`, with the model's variables passed in."""
    import jax

    def stateless(values, *args):
        state = list(zip(_variables(model_ref()), values, strict=True))
        with keras.StatelessScope(state_mapping=state):
            return fn(*args)

    jitted = jax.jit(stateless)

    def run(*args):
        model = model_ref()
        if not all(layer.built for layer in _layers(model)):
            # A model that builds itself on its first call creates its
            # variables now, eagerly: there is none to pass in yet.
            return fn(*args)
        return jitted([v.value for v in _variables(model)], *args)

    return run


def _torch_no_grad(fn):
    """`fn` without autograd: decoding needs no gradients, and recording
    them would keep every step's activations alive."""
    import torch

    def run(*args):
        with torch.no_grad():
            return fn(*args)

    return run


def batch_size(inputs):
    shape = ops.shape(inputs)
    if len(shape) < 1:
        raise ValueError(
            "`inputs` must have a batch axis. Received a scalar input."
        )
    return shape[0]


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def check_int(name, value, low=1):
    """`value` as an int, if it is one and at least `low`."""
    if not is_int(value) or value < low:
        raise ValueError(
            f"`{name}` must be an int >= {low}. Received: {name}={value!r}"
        )
    return int(value)


def check_length_penalty(length_penalty):
    if not is_number(length_penalty) or length_penalty < 0:
        raise ValueError(
            "`length_penalty` must be a number >= 0. "
            f"Received: length_penalty={length_penalty!r}"
        )


def check_token(name, value, vocab_size=None):
    if not is_int(value):
        raise ValueError(
            f"`{name}` must be an int token id. Received: {name}={value!r}"
        )
    if vocab_size is not None and not 0 <= value < vocab_size:
        raise ValueError(
            f"`{name}` must be in [0, {vocab_size}) (the model's target "
            f"vocabulary). Received: {name}={value}"
        )


def check_search(model, inputs, max_length, start_id, end_id, pad_id):
    """Checks what a search is given before anything is compiled: the
    settings, and the source ids when their values are known (a traced
    caller, such as `Translator`'s graph, checks its own)."""
    from keras_transformer import _backend
    from keras_transformer.layers import _validation

    check_int("max_length", max_length)
    limit = getattr(model, "max_length", None)
    if limit is not None and max_length > limit:
        raise ValueError(
            f"`max_length` must be at most the model's max_length={limit}. "
            f"Received: max_length={max_length}"
        )
    vocab = getattr(model, "tgt_vocab_size", None)
    check_token("start_id", start_id, vocab)
    check_token("end_id", end_id)  # may be outside: then no row ends
    check_token("pad_id", pad_id)
    problem = _validation.dtype_problem(
        "inputs", getattr(inputs, "dtype", "int32"), "ids"
    )
    values = _backend.concrete(inputs)
    if values is None:
        if problem is not None:
            raise ValueError(problem)
        return
    if values.ndim != 2:
        raise ValueError(
            "`inputs` must be source ids (batch, length). "
            f"Received: inputs.shape={values.shape}"
        )
    if limit is not None and values.shape[1] > limit:
        raise ValueError(
            f"`inputs` is longer than the model's max_length={limit}. "
            f"Received: inputs.shape={values.shape}"
        )
    src_vocab = getattr(model, "src_vocab_size", None)
    if src_vocab is not None:
        _validation.check_values(
            "inputs",
            values,
            "ids",
            ("src_vocab_size", src_vocab),
            allow_empty=False,
        )


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    """How the next token is chosen from the logits (see
    `keras_transformer.generation.sample`): checked and normalized when
    made, hashable, so that it can key a compiled loop.

    Attributes:
        temperature: float >= 0; 0 is greedy.
        top_k: int >= 1 or `None`.
        top_p: float in (0, 1] or `None`.
        repetition_penalty: float > 0; 1 is none.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0

    def __post_init__(self):
        temperature, top_p = self.temperature, self.top_p
        penalty = self.repetition_penalty
        if not is_number(temperature) or temperature < 0:
            raise ValueError(
                "`temperature` must be a number >= 0 (0 is greedy). "
                f"Received: temperature={temperature!r}"
            )
        if self.top_k is not None:
            object.__setattr__(self, "top_k", check_int("top_k", self.top_k))
        if top_p is not None and not (is_number(top_p) and 0 < top_p <= 1):
            raise ValueError(
                f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}"
            )
        if not (is_number(penalty) and penalty > 0):
            raise ValueError(
                "`repetition_penalty` must be a number > 0 (1 is none). "
                f"Received: repetition_penalty={penalty!r}"
            )
        object.__setattr__(self, "temperature", float(temperature))
        if top_p is not None:
            object.__setattr__(self, "top_p", float(top_p))
        object.__setattr__(self, "repetition_penalty", float(penalty))
