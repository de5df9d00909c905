"""What a layer's config says about its quantized sublayers.

`model.quantize("int8")` changes the dtype policy of the Keras layers
inside ours (the Q/K/V/O projections, the feed-forward and embedding
layers) to a quantized one, and their variables with it. Our layers make
their sublayers in `__init__` from constructor arguments, so a layer
rebuilt from its config would make float sublayers and could not load the
quantized variables. `config_dtype` therefore saves, as the layer's
`dtype`, a `keras.dtype_policies.DTypePolicyMap`: the layer's own policy
as default, and the policy of each quantized sublayer under the path
relative to the layer. Sublayers receive the map as their `dtype` and look
their own path up in it, so they are built quantized again.
"""

import keras

_MAP = keras.dtype_policies.DTypePolicyMap


def config_dtype(layer):
    """The serialized `dtype` for `layer.get_config()`."""
    policy = layer.dtype_policy
    default = policy.default_policy if isinstance(policy, _MAP) else policy
    prefix = f"{layer.path}/"
    quantized = {}
    for sublayer in layer._flatten_layers(include_self=False):
        if sublayer.quantization_mode is None:
            continue
        if layer.path is None or not sublayer.path.startswith(prefix):
            raise ValueError(
                f"Cannot save the quantized sublayer '{sublayer.name}' of "
                f"'{layer.name}': its path {sublayer.path!r} is not under "
                f"the layer's path {layer.path!r}."
            )
        # A pattern matched against full paths, whatever the layer's own
        # path is when it is rebuilt (its name inside another model).
        key = ".*/" + sublayer.path[len(prefix) :]
        quantized[key] = sublayer.dtype_policy
    if not quantized:
        return keras.dtype_policies.serialize(default)
    policy_map = _MAP(default_policy=default)
    for key, sublayer_policy in quantized.items():
        policy_map[key] = sublayer_policy
    return keras.dtype_policies.serialize(policy_map)


def float32_policy(policy):
    """`"float32"`, for a layer kept in float32 under mixed precision (the
    logits), or, when `policy` is a map from a saved quantized model, the
    map with float32 as its default: the layer may be quantized itself."""
    if not isinstance(policy, _MAP):
        return "float32"
    policy_map = _MAP(default_policy="float32")
    for key, value in policy.items():
        policy_map[key] = value
    return policy_map
