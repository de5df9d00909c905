"""NumPy references for the math the layers implement."""

import keras
import numpy as np


def softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def attention_weights(layer):
    """The layer's projections as NumPy, split into heads: kernels
    `(in, H, d_k)` and biases `(H, d_k)` for Q, K, V; `W_O` as
    `(H, d_k, out)`. The layer keeps them as matrices `(in, H * d_k)` and
    `(H * d_k, out)`, head `h` in columns (rows of W_O)
    `h * d_k : (h + 1) * d_k`."""
    heads = layer.num_heads

    def weights(name):
        projection = getattr(layer, f"{name}_projection")
        kernel = keras.ops.convert_to_numpy(projection.kernel)
        bias = keras.ops.convert_to_numpy(projection.bias)
        if name == "output":
            return kernel.reshape(heads, -1, kernel.shape[-1]), bias
        return kernel.reshape(kernel.shape[0], heads, -1), bias.reshape(
            heads, -1
        )

    return tuple(weights(name) for name in ("query", "key", "value", "output"))


def multi_head_attention(layer, query_input, context, mask=None):
    """softmax(Q K^T / sqrt(d_k)) V per head, then W_O, in float64.

    Returns `(outputs, weights)`; `mask` `(batch, q_len, k_len)` is true
    where attending is allowed.
    """
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = attention_weights(layer)
    q = np.einsum("btd,dhk->bthk", query_input, wq) + bq
    k = np.einsum("bsd,dhk->bshk", context, wk) + bk
    v = np.einsum("bsd,dhk->bshk", context, wv) + bv
    d_k = q.shape[-1]
    logits = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(d_k)
    if mask is not None:
        logits = np.where(mask[:, None], logits, -np.inf)
    weights = softmax(logits)
    heads = np.einsum("bhts,bshk->bthk", weights, v)
    return np.einsum("bthk,hko->bto", heads, wo) + bo, weights


def layer_norm(x, gamma, beta, epsilon):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta
