"""What a backend-neutral test needs from the backend, one branch each.

The layer, model and generation tests run under
`KERAS_BACKEND=tensorflow|jax|torch`. They read tensors through
`keras.ops.convert_to_numpy` (a PyTorch tensor that carries gradients
refuses `np.asarray`) and use the two helpers here where the backends
differ: gradients, and a call compiled into one graph.
"""

import os

import keras

BACKEND = keras.backend.backend()


def value_and_gradients(loss_fn, variables):
    """`(loss, gradients)`: the scalar `loss_fn()` as a float and its
    gradient with respect to each of `variables` as a NumPy array, or
    `None` when the loss does not depend on that variable.

    `loss_fn` takes no arguments and reaches the variables through the
    layers that own them, so they must exist already (call or build the
    layer first).
    """
    variables = list(variables)
    if not variables:
        return float(keras.ops.convert_to_numpy(loss_fn())), []
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, [v.value for v in variables])
        # An embedding's gradient arrives as `tf.IndexedSlices`.
        grads = [None if g is None else tf.convert_to_tensor(g) for g in grads]
    elif BACKEND == "jax":
        import jax

        def stateless(values):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                return loss_fn()

        values = [v.value for v in variables]
        loss, grads = jax.value_and_grad(stateless)(values)
        # JAX returns zeros for an input the loss never reads; the other
        # backends return None, and so does this helper.
        used = _inputs_reaching_output(stateless, values)
        grads = [g if u else None for g, u in zip(grads, used, strict=True)]
    elif BACKEND == "torch":
        import torch

        loss = loss_fn()
        grads = torch.autograd.grad(
            loss, [v.value for v in variables], allow_unused=True
        )
    else:
        raise ValueError(f"No gradient helper for backend {BACKEND!r}.")
    to_numpy = keras.ops.convert_to_numpy
    return float(to_numpy(loss)), [
        None if g is None else to_numpy(g) for g in grads
    ]


def _inputs_reaching_output(fn, values):
    """For each array in the list `values`, whether `fn(values)` depends on
    it: a walk back from the output through JAX's traced program."""
    import jax
    from jax.extend.core import Var

    jaxpr = jax.make_jaxpr(fn)(values).jaxpr
    needed = {v for v in jaxpr.outvars if isinstance(v, Var)}
    for eqn in reversed(jaxpr.eqns):
        if any(v in needed for v in eqn.outvars):
            needed.update(v for v in eqn.invars if isinstance(v, Var))
    return [v in needed for v in jaxpr.invars]


def compiled(fn, layer, jit_compile=True):
    """`fn`, which calls `layer` (a layer or a model), compiled into one
    graph: `tf.function(jit_compile=...)` on TensorFlow (XLA, or a plain
    graph with `jit_compile=False`); `jax.jit` on JAX, with the layer's
    variables as inputs and their new values (random seeds) written back
    after each call. On JAX, `jit_compile=False` returns `fn` itself: JAX
    has no graph mode apart from its compiler.

    On PyTorch this returns `fn`, run eagerly, as Keras does there by
    default (`jit_compile="auto"`): `torch.compile` traces a Keras layer
    in 5 to 90 seconds on this kind of CPU and recompiles along a decoding
    loop (the cached GPT steps took 400 s). The tests pass compiled too:
    set `KERAS_TRANSFORMER_TORCH_COMPILE=1` to use `torch.compile`.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=jit_compile)
    if not jit_compile:
        return fn
    if BACKEND == "jax":
        import jax

        variables = layer.variables

        def stateless(values, *args, **kwargs):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                outputs = fn(*args, **kwargs)
            return outputs, [scope.get_current_value(v) for v in variables]

        jitted = jax.jit(stateless)

        def call(*args, **kwargs):
            values = [v.value for v in variables]
            outputs, values = jitted(values, *args, **kwargs)
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
            return outputs

        return call
    if BACKEND == "torch":
        if os.environ.get("KERAS_TRANSFORMER_TORCH_COMPILE") != "1":
            return fn
        import torch

        return torch.compile(fn)
    raise ValueError(f"No compiler helper for backend {BACKEND!r}.")
