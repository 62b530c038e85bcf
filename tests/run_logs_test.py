"""The run plumbing's logs: epochs from 1 in history.csv and log.jsonl, UTC times, one
learning-rate TensorBoard tag, config.json updated when a run is extended, quiet stderr."""

import csv
import datetime
import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.run import checkpoints, quiet
from keras_enas.run import fit as fit_lib
from keras_enas.run import workdir as workdir_lib

# Lines TensorFlow 2.21 wrote at start-up on the development machine (CPU only).
STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796454296.994758   18511 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796454296.997277   18511 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "I0000 00:00:1796453622.765201    7635 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.",
    "E0000 00:00:1796454303.327433   18511 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
KEPT = [
    "I1205 07:07:06.828576 139902685453184 search_ptb.py:53] PTB: vocabulary 10000",
    "W1205 07:07:06.828576 139902685453184 records.py:82] --fixed_arc='0 1' is ignored.",
    "E0000 00:00:1796454303.327433   18511 some_kernel.cc:52] Out of memory.",
    "search_ptb: error: `--workdir` must be set.",
]


def test_startup_noise_is_recognised_and_nothing_else():
    assert [line for line in STARTUP if not quiet.is_startup_noise(line + "\n")] == []
    assert [line for line in KEPT if quiet.is_startup_noise(line)] == []


def test_stderr_filter_drops_noise_from_every_writer_and_keeps_the_order():
    script = textwrap.dedent(
        f"""
        import os, sys
        from keras_enas.run import quiet
        quiet.StderrFilter().start()
        for i, line in enumerate({STARTUP!r} + {KEPT!r}):
            if i % 2:
                os.write(2, (line + "\\n").encode())  # as C++ writes
            else:
                print(line, file=sys.stderr)
        sys.stderr.write("no newline at the end")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stderr == "\n".join(KEPT) + "\nno newline at the end"


class _LR(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["lr"] = float(self.model.optimizer.learning_rate.numpy())


def _fit(workdir, num_epochs, callbacks):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
    x, y = np.zeros((8, 3), "float32"), np.zeros((8, 1), "float32")
    train_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    fit_lib.fit_resumable(
        model, str(workdir), {"model": model}, train_ds, num_epochs, callbacks=callbacks
    )


def _tags(directory):
    tags = set()
    for path in pathlib.Path(directory).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_epochs_from_one_utc_times_and_one_learning_rate_tag(tmp_path):
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    _fit(tmp_path, 2, [_LR()])
    _fit(tmp_path, 3, [_LR()])  # resumed: one more epoch
    with open(tmp_path / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1, 2, 3]
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    end = datetime.datetime.now(datetime.timezone.utc)
    for r in records:
        time = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S%z")
        assert start <= time <= end
    tags = _tags(tmp_path / "tensorboard" / "train")
    assert "epoch_lr" in tags and "epoch_learning_rate" not in tags
    # Without an `lr` in the logs, Keras' own tag stays: still exactly one.
    _fit(tmp_path / "plain", 1, [])
    tags = _tags(tmp_path / "plain" / "tensorboard" / "train")
    assert "epoch_learning_rate" in tags and "epoch_lr" not in tags


def test_config_json_follows_an_extended_run_and_refuses_other_settings(tmp_path):
    config = {"seed": 1, "search": {"num_epochs": 2, "lr": 0.1}, "data_dir": "a"}
    workdir_lib.prepare(str(tmp_path), config)
    longer = {"seed": 1, "search": {"num_epochs": 5, "lr": 0.1}, "data_dir": "b"}
    workdir_lib.prepare(str(tmp_path), longer)
    assert json.loads((tmp_path / "config.json").read_text()) == longer
    # Once the run has saved a checkpoint, other settings are refused (before it, a failed
    # start's config.json is replaced: tests/run_faults_test.py).
    ckpt_dir = tmp_path / checkpoints.CHECKPOINT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(ckpt_dir / "ckpt-1"))
    other = {"seed": 2, "search": {"num_epochs": 6, "lr": 0.1}, "data_dir": "b"}
    with pytest.raises(ValueError, match=r"differs in: seed"):
        workdir_lib.prepare(str(tmp_path), other)
    assert json.loads((tmp_path / "config.json").read_text()) == longer
