"""Copying the weights of one Keras model into another by their paths."""

import re

import numpy as np
from keras import ops


def relative_path(variable, model):
    """`variable.path` without the model's name in front, if it has it:
    `"gpt/final_norm/gamma"` -> `"final_norm/gamma"`."""
    prefix = f"{model.name}/"
    path = variable.path
    return path[len(prefix) :] if path.startswith(prefix) else path


def target_path(path, rules):
    """The target path of a source weight: the first rule
    `(pattern, replacement)` whose pattern matches all of `path` gives it
    (`replacement` a template such as `r"head/\\1"`, or a function of the
    match); `None` when no rule matches."""
    for pattern, replacement in rules:
        match = re.fullmatch(pattern, path)
        if match:
            if callable(replacement):
                return replacement(match)
            return match.expand(replacement)
    return None


def copy_weights(source, target, rules, reshaped=(), zeros=(), keep=()):
    """Assigns every weight of `source` to the weight of `target` that
    `rules` name for it, checking that the correspondence is one to one.

    Args:
        source, target: built Keras models.
        rules: `(pattern, replacement)` pairs from a source path (relative
            to `source`) to a target path (relative to `target`).
        reshaped: patterns of target paths whose value is the source's
            reshaped (same number of elements, C order).
        zeros: patterns of target paths that the source may lack (a bias
            it does not use): they are set to zeros.
        keep: patterns of target paths the source does not hold (a new
            classifier head): they keep their initial values.

    Raises:
        ValueError: a source weight without a target, two source weights
            for one target, a shape that differs, quantized source weights,
            or a target weight that nothing fills; nothing is assigned then.
    """
    source_kind = type(source).__name__
    target_kind = type(target).__name__
    targets = {relative_path(v, target): v for v in target.weights}
    values = {}
    for variable in source.weights:
        path = relative_path(variable, source)
        if str(variable.dtype).startswith(("int", "uint", "float8")):
            raise ValueError(
                f"The {source_kind} holds quantized weights ({variable.path} "
                f"is {variable.dtype}); convert the float model, then "
                "quantize ours with `model.quantize(...)`."
            )
        name = target_path(path, rules)
        if name is None or name not in targets:
            expected = "" if name is None else f" (expected {name!r})"
            raise ValueError(
                f"The {source_kind} weight {variable.path!r} "
                f"{tuple(variable.shape)} has no counterpart in "
                f"{target_kind}{expected}: only the standard architecture "
                "converts (no LoRA weights, no extra layers)."
            )
        if name in values:
            raise ValueError(
                f"Two {source_kind} weights map to {target_kind} weight "
                f"{name!r}; the second is {variable.path!r}."
            )
        value = ops.convert_to_numpy(variable)
        shape = tuple(targets[name].shape)
        if value.shape != shape:
            if _matches(name, reshaped) and value.size == int(np.prod(shape)):
                value = value.reshape(shape)
            else:
                raise ValueError(
                    f"The {source_kind} weight {variable.path!r} has shape "
                    f"{value.shape}, but {target_kind} weight {name!r} "
                    f"expects {shape}."
                )
        values[name] = value
    for name, variable in targets.items():
        if name in values or _matches(name, keep):
            continue
        if _matches(name, zeros):
            values[name] = np.zeros(tuple(variable.shape), "float32")
            continue
        raise ValueError(
            f"The {source_kind} has no weight for {target_kind} weight "
            f"{name!r} {tuple(variable.shape)}."
        )
    for name, value in values.items():
        targets[name].assign(value)


# keras-hub keeps the attention projections as `EinsumDense` kernels
# `(d_model, heads, d_k)` and `(heads, d_k, d_model)`, with biases
# `(heads, d_k)`; ours are the same numbers as matrices `(d_model,
# heads * d_k)` and `(heads * d_k, d_model)`.
ATTENTION_PROJECTIONS = (
    r".*attention/(query|key|value|attention_output)/(kernel|bias)"
)


def _matches(name, patterns):
    return any(re.fullmatch(pattern, name) for pattern in patterns)
