"""Matplotlib figures written to PNG files.

matplotlib is an optional dependency (the `zoo` extra); it is imported when
a plot is made, with the Agg backend so that no display is needed.
"""

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(
            "Plotting needs matplotlib: pip install 'keras3-transformer[zoo]'"
        ) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history, path, title=None):
    """Training curves: one panel per metric, training and validation.

    Args:
        history: dict metric name -> list of per-epoch values, as in
            `model.fit(...).history` (keys `val_*` are the validation side).
        path: PNG file to write.
        title: optional figure title.
    """
    plt = _pyplot()
    names = [k for k in history if not k.startswith("val_") and k != "epoch"]
    names = [k for k in names if k != "learning_rate"] or names
    fig, axes = plt.subplots(
        1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        values = history[name]
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker=".", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker=".", label="val")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_attention_overlays(images, maps, titles, path, title=None):
    """Each image with an attention heat map laid over it.

    Args:
        images: `(n, height, width, channels)` pixel values in [0, 255].
        maps: `(n, rows, cols)` non-negative weights (e.g. the class token's
            attention to each patch); each is stretched to the image size.
        titles: n strings, one per image.
        path: PNG file to write.
        title: optional figure title.
    """
    plt = _pyplot()
    images = np.asarray(images, "float32") / 255.0
    maps = np.asarray(maps, "float32")
    n = len(images)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, weights, name in zip(
        axes.flat, images, maps, titles, strict=False
    ):
        height, width = image.shape[:2]
        scale = (height // weights.shape[0], width // weights.shape[1])
        heat = np.kron(weights, np.ones(scale))
        heat = (heat - heat.min()) / (np.ptp(heat) + 1e-8)
        shown = image[..., 0] if image.shape[-1] == 1 else image
        ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None)
        ax.imshow(heat, cmap="inferno", alpha=0.5)
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_attention_heads(weights, query_tokens, key_tokens, path, title=None):
    """One heat map per head: which key token each query token attends to
    (e.g. target words vs source words for encoder-decoder attention).

    Args:
        weights: array `(num_heads, num_queries, num_keys)`, rows summing
            to 1.
        query_tokens: labels of the rows (length `num_queries`).
        key_tokens: labels of the columns (length `num_keys`).
        path: PNG file to write.
        title: optional figure title.
    """
    weights = np.asarray(weights, dtype="float32")
    if weights.ndim != 3 or weights.shape[1:] != (
        len(query_tokens),
        len(key_tokens),
    ):
        raise ValueError(
            "`weights` must be (num_heads, len(query_tokens), "
            f"len(key_tokens)) = (H, {len(query_tokens)}, {len(key_tokens)})."
            f" Received shape {weights.shape}"
        )
    plt = _pyplot()
    heads = weights.shape[0]
    cols = min(4, heads)
    rows = -(-heads // cols)
    side = 0.28 * max(len(key_tokens), len(query_tokens)) + 1.5
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(side * cols + 1.0, side * rows),
        squeeze=False,
        layout="constrained",
    )
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(key_tokens)))
        ax.set_xticklabels(key_tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(query_tokens)))
        ax.set_yticklabels(query_tokens, fontsize=8)
        ax.set_title(f"head {h}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
