"""Activations the Keras built-ins lack, registered so that a layer or
model using one saves and reloads without `custom_objects`."""

import keras

__all__ = ["gelu_approximate"]


@keras.saving.register_keras_serializable(package="keras_transformer")
def gelu_approximate(x):
    """GELU in the tanh form of GPT-2 and BERT:

    `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.

    The string `"gelu"` (`keras.activations.gelu`) is the exact form
    `x Phi(x)`, `Phi` the standard normal CDF through `erf`; the two differ
    by up to about `5e-4` (near `|x| = 2.7`), enough to move a pretrained
    GPT-2's logits. (`keras.ops.gelu` defaults to the tanh form.) Pass the
    function itself, as in `GPT(..., activation=gelu_approximate)`; a
    configuration stores it as `"keras_transformer>gelu_approximate"`.

    Args:
        x: float tensor.

    Returns:
        A tensor shaped like `x`.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> x = np.array([-1.0, 0.0, 2.0], "float32")
    >>> def show(y):
    ...     return [round(float(v), 4) for v in ops.convert_to_numpy(y)]
    >>> show(gelu_approximate(x))
    [-0.1588, 0.0, 1.9546]
    >>> show(keras.activations.gelu(x))  # the exact form
    [-0.1587, 0.0, 1.9545]
    """
    return keras.activations.gelu(x, approximate=True)
