"""Shared test fixtures: the real data sets (e2e tests only), tiny generated ones (every other
test), and a quiet TensorFlow."""

import os
import pathlib

import pytest
import tiny_data

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


def pytest_collection_modifyitems(config, items):
    """The real data sets are read only by tests marked `e2e`, so that `pytest -m "not e2e"`
    runs in a clone without ../shared/data; a test that breaks the rule is reported."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "e2e"
        ):
            raise pytest.UsageError(
                f"{item.nodeid} reads the real data (fixture shared_data) but is not marked "
                "@pytest.mark.e2e; mark it, or use the tiny_ptb / tiny_cifar10 fixtures."
            )


@pytest.fixture(scope="session")
def shared_data():
    """The directory holding `ptb/` and `cifar10/` (../shared/data or $KERAS_ENAS_DATA).

    Only for tests marked `e2e`."""
    path = _shared_data()
    if path is None:
        pytest.fail(
            "Real data not found: set KERAS_ENAS_DATA to the directory holding "
            "ptb/ and cifar10/ (../shared/data beside the repository), or run the "
            'fast tests only: pytest -m "not e2e".'
        )
    return path


@pytest.fixture(scope="session")
def tiny_ptb(tmp_path_factory):
    """A generated PTB directory (`ptb.{train,valid,test}.txt`, 50 words; tests/tiny_data.py)."""
    return pathlib.Path(tiny_data.write_ptb(tmp_path_factory.mktemp("tiny_ptb")))


@pytest.fixture(scope="session")
def tiny_cifar10(tmp_path_factory):
    """A generated CIFAR-10 directory (1000 training, 300 test images; tests/tiny_data.py)."""
    return pathlib.Path(tiny_data.write_cifar10(tmp_path_factory.mktemp("tiny_cifar10")))


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
