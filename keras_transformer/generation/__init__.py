"""Decoding with a per-layer key/value cache: greedy and beam search for
encoder-decoders, sampling for decoder-only models."""

from keras_transformer.generation.beam import beam_search
from keras_transformer.generation.beam import length_normalizer
from keras_transformer.generation.next_token import apply_repetition_penalty
from keras_transformer.generation.next_token import top_k_filter
from keras_transformer.generation.next_token import top_p_filter
from keras_transformer.generation.prompts import fit_prompts
from keras_transformer.generation.sampling import sample
from keras_transformer.generation.sampling import sample_padded
from keras_transformer.generation.search import greedy_search

__all__ = [
    "apply_repetition_penalty",
    "beam_search",
    "fit_prompts",
    "greedy_search",
    "length_normalizer",
    "sample",
    "sample_padded",
    "top_k_filter",
    "top_p_filter",
]
