"""Decoding with a per-layer key/value cache: greedy and beam search."""

from keras_transformer.generation.search import beam_search
from keras_transformer.generation.search import greedy_search
from keras_transformer.generation.search import length_normalizer

__all__ = ["beam_search", "greedy_search", "length_normalizer"]
