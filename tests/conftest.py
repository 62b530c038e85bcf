"""Shared test fixtures: where the real data sets are, and a quiet TensorFlow."""

import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]


def _shared_data():
    env = os.environ.get("KERAS_ENAS_DATA")
    candidates = [pathlib.Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    for path in candidates:
        if (path / "ptb" / "ptb.train.txt").exists():
            return path
    return None


@pytest.fixture(scope="session")
def shared_data():
    """The directory holding `ptb/` and `cifar10/` (../shared/data or $KERAS_ENAS_DATA)."""
    path = _shared_data()
    if path is None:
        pytest.fail("Real data not found: set KERAS_ENAS_DATA to the directory holding "
                    "ptb/ and cifar10/ (../shared/data beside the repository).")
    return path
