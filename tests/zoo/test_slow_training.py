"""Training checks that take minutes: `pytest -m slow` runs them."""

import json

import pytest

from zoo.__main__ import main

pytestmark = pytest.mark.slow


def test_gpt_at_nanogpt_cpu_baseline_config_learns_shakespeare(tmp_path):
    """nanoGPT's CPU baseline (2,000 iterations, about a minute and a half
    on 2 cores) reaches a validation loss near nanoGPT's 1.88; 1.95
    leaves room for run-to-run noise (measured 1.900 and 1.906)."""
    import os

    from tests.zoo.conftest import SHARED_DATA

    data_dir = os.environ.get("KERAS_TRANSFORMER_DATA", SHARED_DATA)
    out = tmp_path / "gpt"
    argv = ["train", "gpt", "--dataset", "shakespeare"]
    assert main(argv + ["--data-dir", str(data_dir), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_loss"] < 1.95
