"""Plots of training curves and attention (needs matplotlib)."""

from keras_transformer.visualization.plots import plot_attention_heads
from keras_transformer.visualization.plots import plot_attention_overlays
from keras_transformer.visualization.plots import plot_history

__all__ = ["plot_attention_heads", "plot_attention_overlays", "plot_history"]
