import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
# Small generated corpora in the datasets' layout (tests/data/README.md):
# what the default test run trains on, in any clone, with no network.
SAMPLE_DATA = ROOT / "tests" / "data"


def full_data_dir():
    """The folder of the full datasets (KERAS_TRANSFORMER_DATA, else
    ../shared/data); tests that read it are marked `data`."""
    path = pathlib.Path(os.environ.get("KERAS_TRANSFORMER_DATA", SHARED_DATA))
    assert path.is_dir(), (
        f"No data folder at {path}: set KERAS_TRANSFORMER_DATA to the "
        "folder described in shared/data/README.md (tests that need it "
        "are marked `data`; the default run deselects them)"
    )
    return path


@pytest.fixture
def data_dir():
    """The full datasets: only for tests marked `data`."""
    return full_data_dir()


@pytest.fixture
def sample_dir():
    """The committed sample corpora (`multi30k`, `shakespeare`)."""
    return SAMPLE_DATA
