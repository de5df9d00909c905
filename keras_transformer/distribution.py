"""Sharding the library's models with `keras.distribution` (JAX).

`layout_map` names, for every weight of the attention and feed-forward
layers, the axis that `keras.distribution.ModelParallel` splits across
the devices of a mesh's model axis, in the usual way of tensor
parallelism: the query, key and value projections and the feed-forward's
first layer by their output (heads, hidden units), the attention output
and the feed-forward's second layer by their input. A block then needs
one all-reduce after attention and one after the feed-forward, and each
device holds `1 / model_size` of the projections.

    mesh = keras.distribution.DeviceMesh((1, 2), ("batch", "model"))
    keras.distribution.set_distribution(
        keras.distribution.ModelParallel(
            layout_map=layout_map(mesh), batch_dim_name="batch"
        )
    )
    model = GPT(...)  # built under the distribution: sharded weights

Embeddings, norms and heads stay whole on every device. The numbers of
heads and of feed-forward units must divide by the model axis' size
(`check_divisible`).
"""

import keras

__all__ = ["layout_map", "check_divisible"]

# (weight path pattern, the mesh axis of each of its dimensions); `M`
# stands for the model axis. Paths as `Variable.path` gives them, such as
# "gpt/decoder_layer_0/self_attention/query/kernel" (d_model,
# heads * head_dim, head by head) or ".../feed_forward/inner_dense/kernel"
# (d_model, d_ff).
_M = "model"
_RULES = (
    (r".*attention/(query|key|value)/kernel", (None, _M)),
    (r".*attention/(query|key|value)/bias", (_M,)),
    (r".*attention/attention_output/kernel", (_M, None)),
    (r".*feed_forward/inner_dense/kernel", (None, _M)),
    (r".*feed_forward/inner_dense/bias", (_M,)),
    (r".*feed_forward/output_dense/kernel", (_M, None)),
)


def layout_map(device_mesh, model_axis="model"):
    """A `keras.distribution.LayoutMap` on `device_mesh` splitting the
    attention heads and the feed-forward's hidden units of the library's
    layers across `model_axis` (see the module docstring).

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with an axis named
            `model_axis`.
        model_axis: str. The mesh axis to shard the weights across.
    """
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"`device_mesh` has no axis {model_axis!r} (its axes: "
            f"{list(device_mesh.axis_names)}). Pass the axis to shard the "
            "weights across as `model_axis`."
        )
    layouts = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in _RULES:
        layouts[pattern] = tuple(model_axis if a == _M else a for a in axes)
    return layouts


def check_divisible(num_heads, d_ff, model_size):
    """Raises a `ValueError` when `num_heads` or `d_ff` does not split
    evenly across `model_size` devices."""
    for name, value in (("num_heads", num_heads), ("d_ff", d_ff)):
        if value % model_size:
            raise ValueError(
                f"{name}={value} does not split across the {model_size} "
                f"devices of the model axis: give a multiple of {model_size}."
            )
