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
        pytest.fail(
            "Real data not found: set KERAS_ENAS_DATA to the directory holding "
            "ptb/ and cifar10/ (../shared/data beside the repository)."
        )
    return path


@pytest.fixture(autouse=True)
def _restore_op_determinism():
    """A test that turns on TF op determinism (resume tests) must not leak it: under
    determinism, unseeded random ops raise, which would fail unrelated later tests."""
    yield
    import sys

    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config

        if tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
