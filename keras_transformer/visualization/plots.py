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
    """Each image, and beside it the same image under its attention map.

    The maps share one colour scale, from 0 to the largest weight shown,
    with a colour bar: a flat map (every patch near `1 / patches`) looks
    flat, rather than being stretched to full contrast.

    Args:
        images: `(n, height, width, channels)` pixel values in [0, 255].
        maps: `(n, rows, cols)` non-negative weights (e.g. the class token's
            attention to each patch); each is stretched to the image size.
        titles: n strings, one per image.
        path: PNG file to write.
        title: optional figure title.
    """
    images = np.asarray(images, "float32") / 255.0
    maps = np.asarray(maps, "float32")
    if maps.ndim != 3 or len({len(images), len(maps), len(titles)}) != 1:
        raise ValueError(
            "`maps` must be (n, rows, cols) with one map and one title per "
            f"image; received {len(images)} images, maps of shape "
            f"{maps.shape} and {len(titles)} titles"
        )
    plt = _pyplot()
    n = len(images)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows,
        2 * cols,
        figsize=(2.2 * 2 * cols + 1.0, 2.5 * rows),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.axis("off")
    top = float(maps.max()) or 1.0
    for k, (image, weights, name) in enumerate(
        zip(images, maps, titles, strict=True)
    ):
        row, col = divmod(k, cols)
        plain, overlay = axes[row, 2 * col], axes[row, 2 * col + 1]
        height, width = image.shape[:2]
        shown = image[..., 0] if image.shape[-1] == 1 else image
        kind = {"cmap": "gray_r"} if shown.ndim == 2 else {}
        plain.imshow(shown, **kind)
        plain.set_title(name, fontsize=9)
        overlay.imshow(shown, **kind)
        heat = overlay.imshow(
            weights,
            cmap="inferno",
            alpha=0.6,
            vmin=0.0,
            vmax=top,
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            interpolation="nearest",
        )
        overlay.set_title("attention", fontsize=9)
    fig.colorbar(heat, ax=axes, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attention_heads(
    weights, query_tokens, key_tokens, path, title=None, columns=None
):
    """One heat map per head: which key token each query token attends to
    (e.g. target words vs source words for encoder-decoder attention).

    Args:
        weights: array `(num_heads, num_queries, num_keys)`, rows summing
            to 1.
        query_tokens: labels of the rows (length `num_queries`).
        key_tokens: labels of the columns (length `num_keys`).
        path: PNG file to write.
        title: optional figure title.
        columns: heads per row. Defaults to `min(4, num_heads)`.
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
    cols = min(columns or 4, heads)
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
