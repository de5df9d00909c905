import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def data_dir():
    """The local data folder (CI sets KERAS_TRANSFORMER_DATA)."""
    path = pathlib.Path(os.environ.get("KERAS_TRANSFORMER_DATA", SHARED_DATA))
    assert path.is_dir(), (
        f"No data folder at {path}: set KERAS_TRANSFORMER_DATA to the "
        "folder described in shared/data/README.md"
    )
    return path
