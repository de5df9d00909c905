"""`keras_transformer.distribution.layout_map`: under Keras'
`ModelParallel` on two JAX devices, every projection of the attention
and feed-forward layers is split the intended way, and the sharded
models compute what the same models compute on one device."""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

SCRIPT = textwrap.dedent(
    """
    import keras
    import numpy as np

    from keras_transformer.distribution import layout_map
    from keras_transformer.models import GPT, Transformer

    def models():
        keras.utils.set_random_seed(1)
        gpt = GPT(vocab_size=40, max_length=12, num_layers=2, d_model=16,
                  num_heads=4, d_ff=32, dropout_rate=0.0)
        translator = Transformer(num_layers=1, d_model=16, num_heads=2,
                                 d_ff=32, src_vocab_size=30,
                                 tgt_vocab_size=40, dropout_rate=0.0)
        ids = np.random.default_rng(0).integers(1, 30, (4, 12))
        return (gpt, (ids,)), (translator, ((ids, ids),))

    expected = [m(*x) for m, x in models()]
    devices = keras.distribution.list_devices()
    assert len(devices) == 2, devices
    mesh = keras.distribution.DeviceMesh((1, 2), ("batch", "model"), devices)
    keras.distribution.set_distribution(keras.distribution.ModelParallel(
        layout_map=layout_map(mesh), batch_dim_name="batch"))
    for (model, x), want in zip(models(), expected):
        got = model(*x)
        np.testing.assert_allclose(got, want, atol=1e-5)
        split = {}
        for v in model.weights:
            spec = tuple(v.value.sharding.spec)
            if "model" in spec:
                split[v.path] = spec
        print(type(model).__name__, len(split))
        for path, spec in sorted(split.items()):
            print(path, spec, sep="\t")
    """
)


def test_model_parallel_splits_every_projection_and_changes_nothing():
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    # Per attention layer: query, key, value (kernel, bias) and the output
    # kernel; per feed-forward: the inner kernel and bias, the outer
    # kernel. GPT: 2 blocks of (7 + 3); the translator: an encoder block
    # (7 + 3) and a decoder block (7 + 7 + 3) with its cross-attention.
    assert "GPT 20" in lines and "Transformer 27" in lines, done.stdout
    specs = dict(line.split("\t") for line in lines if "\t" in line)
    query = [p for p in specs if p.endswith("self_attention/query/kernel")]
    assert query and all(specs[p] == "(None, 'model')" for p in query), specs
