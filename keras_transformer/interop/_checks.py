"""What the keras-hub converters share: the lazy import of keras-hub and
the checks of what a source computes."""

import keras
import numpy as np
from keras import ops

from keras_transformer.activations import gelu_approximate


def import_keras_hub():
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(
            "Converting keras-hub models needs the `keras-hub` package "
            "(`pip install keras-hub`; tested with 0.32)."
        ) from error
    return keras_hub


def unsupported(kind, what, value):
    return ValueError(
        f"Cannot convert this {kind}: {what}. Received: {value!r}"
    )


_PROBE = np.linspace(-4.0, 4.0, 81, dtype="float32")


def gelu_form(activation):
    """`"tanh"` or `"exact"`: which GELU `activation` computes (probed on
    [-4, 4], where the two differ by up to 5e-4), or `None`."""
    values = ops.convert_to_numpy(activation(_PROBE))
    for form, reference in (
        ("tanh", gelu_approximate),
        ("exact", keras.activations.gelu),
    ):
        expected = ops.convert_to_numpy(reference(_PROBE))
        if np.allclose(values, expected, rtol=0.0, atol=1e-6):
            return form
    return None


def one_epsilon(kind, epsilons):
    """The layer-norm epsilon shared by every norm of the source."""
    epsilons = {float(e) for e in epsilons}
    if len(epsilons) != 1:
        raise unsupported(
            kind, "its layer norms use different epsilons", sorted(epsilons)
        )
    return epsilons.pop()


def source_dtype(model, dtype):
    return dtype if dtype is not None else model.dtype_policy.name
