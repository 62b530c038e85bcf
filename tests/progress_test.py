"""Tests for keras_enas.progress: the lines a fit writes, and bad arguments."""

import re

import keras
import numpy as np
import pytest

from keras_enas.run import progress


def fit(callback, epochs=2):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((12, 3), "float32"), np.zeros((12, 1), "float32")
    model.fit(x, y, batch_size=3, epochs=epochs, verbose=0, callbacks=[callback])


def test_lines_report_tracing_steps_and_eta():
    lines = []
    fit(progress.Progress(every_secs=1e-9, print_fn=lines.append))
    tracing = [line for line in lines if "tracing" in line]
    assert len(tracing) == 1 and tracing[0].startswith("epoch 1: first step (tracing) took")
    steps = [line for line in lines if " step " in line and "tracing" not in line]
    # Epoch 1: steps 2..4 are timed (step 1 traced and is left out); epoch 2: all four.
    assert [re.search(r"step (\d+)/4", line).group(1) for line in steps] == list("2341234")
    assert steps[0].startswith("epoch 1/2 step 2/4")
    for line in steps:
        assert re.search(r"\d+ ms/step  epoch ETA \S+  run ETA \S+", line), line
    assert re.search(r"epoch ETA 0s  run ETA 0s$", steps[-1])
    done = [line for line in lines if "done in" in line]
    assert len(done) == 2 and done[-1].startswith("epoch 2/2 done in")
    assert done[-1].endswith("run ETA 0s")


def test_zero_interval_writes_only_tracing_and_epoch_lines():
    lines = []
    fit(progress.Progress(every_secs=0, print_fn=lines.append), epochs=1)
    assert len(lines) == 2 and "tracing" in lines[0] and "done in" in lines[1]


def test_format_seconds():
    assert progress.format_seconds(7.3) == "7s"
    assert progress.format_seconds(65) == "1m05s"
    assert progress.format_seconds(3725.2) == "1h02m05s"
    assert progress.format_seconds(-3) == "0s"


def test_negative_interval_raises():
    with pytest.raises(ValueError, match="every_secs"):
        progress.Progress(every_secs=-1)
