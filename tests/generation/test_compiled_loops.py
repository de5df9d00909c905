"""The decoding loops compiled per backend (`generation._common.
compile_loop`): compiled once, reading the weights of the moment, and
needing no TensorFlow outside the TensorFlow backend."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.generation import greedy_search
from keras_transformer.generation import sample
from keras_transformer.models import GPT
from keras_transformer.models import Transformer

# The backends whose loop is one compiled graph, traced once.
COMPILED = ("tensorflow", "jax")


class Counting:
    """A plain object wrapping a decoder, counting the Python calls of its
    `decode_step`: a compiled loop makes them while tracing only."""

    def __init__(self, model):
        self.model = model
        self.max_length = model.max_length
        self.vocab_size = getattr(model, "vocab_size", None)
        self.tgt_vocab_size = getattr(model, "tgt_vocab_size", None)
        self.traced = 0

    def start_decoding(self, inputs, max_length):
        return self.model.start_decoding(inputs, max_length)

    def decode_step(self, state, token_ids, index):
        self.traced += 1
        return self.model.decode_step(state, token_ids, index)


def perturb(model, scale=0.3):
    rng = np.random.default_rng(1)
    model.set_weights(
        [
            (w + rng.normal(0, scale, w.shape)).astype(w.dtype)
            for w in model.get_weights()
        ]
    )


def test_compiled_sampling_reads_new_weights_without_retracing():
    gpt = GPT(
        vocab_size=23,
        max_length=16,
        num_layers=1,
        d_model=16,
        num_heads=2,
        d_ff=32,
        dropout_rate=0.0,
    )
    model = Counting(gpt)
    prompts = [[1, 2, 3], [4, 5]]
    before, _ = sample(model, prompts, 6, seed=0)
    traced = model.traced
    sample(model, prompts, 6, seed=3)  # another seed: the same graph
    if keras.backend.backend() in COMPILED:
        assert model.traced == traced
    perturb(gpt)
    after, _ = sample(model, prompts, 6, seed=0)
    if keras.backend.backend() in COMPILED:
        assert model.traced == traced
    # Without compiling, the loop reads the weights at every step.
    reference, _ = sample(gpt, prompts, 6, seed=0, jit_compile=False)
    np.testing.assert_array_equal(after, reference)
    assert not np.array_equal(after, before)


def test_compiled_greedy_search_reads_new_weights_without_retracing():
    transformer = Transformer(
        src_vocab_size=20,
        tgt_vocab_size=12,
        num_layers=1,
        d_model=16,
        num_heads=2,
        d_ff=32,
        dropout_rate=0.0,
        max_length=8,
    )
    model = Counting(transformer)
    src = np.arange(1, 11, dtype="int32").reshape(2, 5)

    def search(model, **kwargs):
        return [
            ops.convert_to_numpy(t)
            for t in greedy_search(model, src, 6, 2, 3, **kwargs)
        ]

    before, _ = search(model)
    # The first call built the model (on JAX eagerly: it had no variables
    # to pass to a compiled loop yet); the second compiled the loop.
    search(model)
    traced = model.traced
    perturb(transformer)
    after, scores = search(model)
    if keras.backend.backend() in COMPILED:
        assert model.traced == traced
    reference, reference_scores = search(transformer, jit_compile=False)
    np.testing.assert_array_equal(after, reference)
    np.testing.assert_allclose(scores, reference_scores, atol=1e-4)
    assert not np.array_equal(after, before)


WITHOUT_TENSORFLOW = """
import sys

sys.modules["tensorflow"] = None  # makes `import tensorflow` fail

import numpy as np

from keras_transformer.generation import beam_search
from keras_transformer.generation import greedy_search
from keras_transformer.models import GPT
from keras_transformer.models import Transformer

gpt = GPT(vocab_size=11, max_length=16, num_layers=1, d_model=8,
          num_heads=2, d_ff=16)
gpt.generate([[1, 2, 3], [4]], 5, top_k=4, top_p=0.9, repetition_penalty=1.2)
transformer = Transformer(src_vocab_size=11, tgt_vocab_size=11,
                          num_layers=1, d_model=8, num_heads=2, d_ff=16,
                          max_length=8)
src = np.ones((2, 3), "int32")
greedy_search(transformer, src, 4, 1, 2)
beam_search(transformer, src, 4, 1, 2, beam_size=2)
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"
                and sys.modules[m] is not None)
print("tensorflow modules:", loaded)
"""


@pytest.mark.without_tensorflow
def test_generation_runs_without_tensorflow():
    """Sampling, greedy and beam search on JAX or PyTorch import no
    TensorFlow: in a fresh process where importing it fails, they run and
    leave no TensorFlow module loaded."""
    backend = keras.backend.backend()
    assert backend != "tensorflow", "run with KERAS_BACKEND=jax or torch"
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, KERAS_BACKEND=backend)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), *filter(None, [env.get("PYTHONPATH")])]
    )
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tensorflow modules: []" in done.stdout
