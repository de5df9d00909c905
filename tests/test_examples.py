"""Every example runs and its training lowers the loss, and the README
shows them as they are."""

import math
import pathlib
import runpy

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def record_fit_losses(monkeypatch):
    """Makes every `fit` also evaluate its model on its own training data
    just before and just after training; returns the list of
    `(before, after)` losses it fills."""
    records = []
    fit = keras.Model.fit

    def recording_fit(self, x=None, y=None, *args, **kwargs):
        before = self.evaluate(x, y, verbose=0, return_dict=True)["loss"]
        history = fit(self, x, y, *args, **kwargs)
        after = self.evaluate(x, y, verbose=0, return_dict=True)["loss"]
        records.append((before, after))
        return history

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    return records


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, monkeypatch):
    records = record_fit_losses(monkeypatch)
    namespace = runpy.run_path(str(path), run_name="__main__")
    assert records, f"{path.name} trains nothing: give it a check of its own"
    for before, after in records:
        assert math.isfinite(before) and math.isfinite(after)
        # The example's training lowered the loss on its own data.
        assert after < 0.97 * before, (before, after)
    history = namespace.get("history")
    if history is not None:
        assert all(math.isfinite(loss) for loss in history.history["loss"])


def test_readme_shows_the_encoder_decoder_example():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "tiny_encoder_decoder.py").read_text()
    assert example.strip() in readme
