"""`run_layer_test`: the checks every public layer must pass.

Each check compares two computations that must agree (eager vs symbolic,
saved vs reloaded, XLA vs eager, float32 vs mixed precision) rather than
looking at shapes alone.
"""

import json
import os
import tempfile

import keras
import numpy as np
from keras import ops

from tests.backend import compiled
from tests.backend import value_and_gradients

MIXED_TOLERANCE = {"mixed_float16": 2e-2, "mixed_bfloat16": 1e-1}


def make_inputs(specs, seed=0):
    """Random arrays for `specs`, a dict name -> (shape, dtype).

    Integer inputs are ids in [1, 20); boolean inputs are padding masks in
    which the last two positions of the first row are padding.
    """
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, (shape, dtype) in specs.items():
        if dtype == "bool":
            array = np.ones(shape, bool)
            array[0, -2:] = False
        elif dtype.startswith("int"):
            array = rng.integers(1, 20, size=shape).astype(dtype)
        else:
            array = rng.normal(size=shape).astype(dtype)
        arrays[name] = array
    return arrays


def first(outputs):
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def call_layer(layer, arrays, call_kwargs):
    kwargs = dict(arrays)
    inputs = kwargs.pop("inputs")
    return layer(inputs, **kwargs, **call_kwargs)


def run_layer_test(
    cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    call_kwargs=None,
    input_dtype="float32",
    extra_inputs=None,
    padded_inputs=None,
    tolerance=1e-5,
):
    """Runs the shared layer checks.

    Args:
        cls: the layer class.
        init_kwargs: dict passed to `cls`.
        input_shape: shape of the first call argument, `inputs`.
        expected_output_shape: shape of the (first) output.
        call_kwargs: non-tensor call arguments (flags).
        input_dtype: dtype of `inputs`.
        extra_inputs: dict name -> (shape, dtype) of further tensor call
            arguments, such as `context` or `padding_mask`.
        padded_inputs: dict mask argument -> tensor argument it masks; for
            each, changing the masked positions of the tensor must leave the
            outputs at real positions unchanged.
        tolerance: absolute tolerance of float32 comparisons.
    """
    call_kwargs = call_kwargs or {}
    specs = {"inputs": (tuple(input_shape), input_dtype)}
    specs.update(extra_inputs or {})
    arrays = make_inputs(specs)

    # 1. Eager, symbolic and compute_output_shape agree; so do the values of
    #    the layer called eagerly and inside a functional model.
    layer = cls(**init_kwargs)
    eager = first(call_layer(layer, arrays, call_kwargs))
    assert tuple(eager.shape) == tuple(expected_output_shape)
    symbolic_inputs = {
        name: keras.Input(shape=shape[1:], dtype=dtype, name=name)
        for name, (shape, dtype) in specs.items()
    }
    symbolic = call_layer(layer, symbolic_inputs, call_kwargs)
    assert tuple(first(symbolic).shape) == (None,) + tuple(
        expected_output_shape[1:]
    )
    computed = layer.compute_output_shape(tuple(input_shape))
    assert tuple(computed) == tuple(expected_output_shape)
    model = keras.Model(symbolic_inputs, symbolic)
    eager = ops.convert_to_numpy(eager)
    np.testing.assert_allclose(
        ops.convert_to_numpy(first(model(arrays))), eager, atol=tolerance
    )

    # 2. The config survives a round trip.
    config = layer.get_config()
    restored = cls.from_config(config)
    assert json.dumps(restored.get_config(), sort_keys=True) == json.dumps(
        config, sort_keys=True
    )

    # 3. A model around the layer reloads from .keras without custom_objects
    #    and gives identical outputs.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(first(reloaded(arrays))),
        ops.convert_to_numpy(first(model(arrays))),
        atol=1e-6,
    )

    # 4. Changing padded positions leaves the real outputs unchanged.
    for mask_name, tensor_name in (padded_inputs or {}).items():
        assert_padding_invariant(
            layer, arrays, call_kwargs, mask_name, tensor_name, tolerance
        )

    # 5. Every trainable weight gets a finite gradient.
    probe = np.random.default_rng(1).normal(size=eager.shape).astype("float32")

    def loss():
        out = first(call_layer(layer, arrays, call_kwargs))
        return ops.sum(ops.cast(out, "float32") * ops.convert_to_tensor(probe))

    _, grads = value_and_gradients(loss, layer.trainable_weights)
    for weight, grad in zip(layer.trainable_weights, grads, strict=True):
        assert grad is not None, f"no gradient for {weight.path}"
        assert np.all(np.isfinite(grad)), weight.path

    # 6. The call compiled into one graph gives the same outputs as eager:
    #    XLA on TensorFlow and JAX; PyTorch runs it eagerly unless
    #    KERAS_TRANSFORMER_TORCH_COMPILE=1 (see `tests.backend.compiled`).
    step = compiled(lambda a: first(call_layer(layer, a, call_kwargs)), layer)
    np.testing.assert_allclose(
        ops.convert_to_numpy(step(arrays)), eager, atol=tolerance * 10
    )

    # 7. Mixed precision: float32 weights, outputs in the compute dtype, and
    #    values close to float32 with the same weights.
    for policy, atol in MIXED_TOLERANCE.items():
        mixed = cls(**init_kwargs, dtype=policy)
        call_layer(mixed, arrays, call_kwargs)
        for weight in mixed.weights:
            assert weight.dtype == "float32", (policy, weight.path)
        mixed.set_weights(layer.get_weights())
        out = first(call_layer(mixed, arrays, call_kwargs))
        if keras.backend.is_float_dtype(eager.dtype):
            dtype = keras.backend.standardize_dtype(out.dtype)
            assert dtype == keras.dtype_policies.get(policy).compute_dtype
        values = ops.convert_to_numpy(ops.cast(out, "float32"))
        assert np.all(np.isfinite(values)), policy
        np.testing.assert_allclose(values, eager, atol=atol)
    return layer


def assert_padding_invariant(
    layer, arrays, call_kwargs, mask_name, tensor_name, tolerance=1e-5
):
    """Overwrites the positions `arrays[mask_name]` marks as padding in
    `arrays[tensor_name]` and checks that the outputs at real query
    positions do not move."""
    mask = arrays[mask_name]
    changed = dict(arrays)
    noise = np.random.default_rng(7).normal(
        scale=10.0, size=arrays[tensor_name].shape
    )
    target = arrays[tensor_name]
    if target.dtype.kind == "i":
        noise = np.random.default_rng(7).integers(1, 20, size=target.shape)
    where = ~mask.reshape(mask.shape + (1,) * (target.ndim - mask.ndim))
    changed[tensor_name] = np.where(where, noise, target).astype(target.dtype)
    assert not np.array_equal(changed[tensor_name], target)
    before = ops.convert_to_numpy(first(call_layer(layer, arrays, call_kwargs)))
    after = ops.convert_to_numpy(first(call_layer(layer, changed, call_kwargs)))
    if tensor_name == "inputs":
        keep = mask  # outputs at padded query positions may change
    else:
        keep = np.ones(before.shape[:2], bool)
    np.testing.assert_allclose(after[keep], before[keep], atol=tolerance)
