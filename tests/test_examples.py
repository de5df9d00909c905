"""Every example runs, and the README shows them as they are."""

import math
import pathlib
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    namespace = runpy.run_path(str(path), run_name="__main__")
    history = namespace.get("history")
    if history is not None:
        losses = history.history["loss"]
        assert all(math.isfinite(loss) for loss in losses)


def test_readme_shows_the_encoder_decoder_example():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "tiny_encoder_decoder.py").read_text()
    assert example.strip() in readme
