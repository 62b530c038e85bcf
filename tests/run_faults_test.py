"""Issue 11 faults 3, 4, 5, 10: corrupt checkpoints, the workdir lock, logs after a kill,
and a failed start that must not block the corrected one."""

import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_enas.run import errors, log_repair, logs, workdir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.faults


class _State(tf.Module):
    def __init__(self):
        super().__init__()
        self.value = tf.Variable(np.zeros(64, np.float32))


def _saved_run(tmp_path, epochs=3):
    """A workdir whose checkpoints ckpt-1..ckpt-N hold value = epoch (the last 2 kept)."""
    state = _State()
    manager = workdir.checkpoint_manager(str(tmp_path), state=state)
    for epoch in range(1, epochs + 1):
        state.value.assign(np.full(64, epoch, np.float32))
        manager.save(checkpoint_number=epoch)
    return tmp_path / "checkpoints"


def _restored(tmp_path):
    state = _State()
    manager = workdir.checkpoint_manager(str(tmp_path), state=state)
    restored = workdir.restore_latest(manager)
    return restored, float(state.value.numpy()[0])


def test_garbage_state_file_still_resumes_from_the_newest(tmp_path):
    ckpt = _saved_run(tmp_path)
    (ckpt / "checkpoint").write_bytes(b"\x00garbage {{")
    assert _restored(tmp_path) == (True, 3.0)


def test_truncated_data_falls_back_to_the_older_checkpoint(tmp_path, caplog):
    ckpt = _saved_run(tmp_path)
    data = ckpt / "ckpt-3.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:40])
    (ckpt / "ckpt-3_temp").mkdir()  # left by a save that was killed
    (ckpt / "ckpt-3_temp" / "part-00000").write_bytes(b"x")
    with caplog.at_level("WARNING"):
        assert _restored(tmp_path) == (True, 2.0)
    text = caplog.text
    assert "ckpt-3 does not restore" in text and "Resumed from" in text and "ckpt-2" in text
    assert not (ckpt / "ckpt-3_temp").exists()


def test_no_checkpoint_restores_one_line_error_naming_the_file(tmp_path):
    ckpt = _saved_run(tmp_path)
    for name in ("ckpt-2.index", "ckpt-3.index"):
        (ckpt / name).write_bytes(b"garbage" * 9)
    with pytest.raises(errors.CheckpointError, match=r"ckpt-3\.index") as info:
        _restored(tmp_path)
    assert "\n" not in str(info.value)


_HOLDER = """
import fcntl, os, sys, time
f = open(os.path.join(sys.argv[1], "lock"), "a+")
fcntl.flock(f, fcntl.LOCK_EX)
f.seek(0); f.truncate(); f.write(str(os.getpid())); f.flush()
print("locked", flush=True)
time.sleep(60)
"""


def _holder(path):
    """Another process holding the lock as `run.lock` takes it (flock + its PID)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_process_on_a_workdir_gets_one_line_naming_the_holder(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(ValueError, match=f"in use by process {proc.pid} ") as info:
            workdir.prepare(str(tmp_path), {"seed": 1})
        assert "\n" not in str(info.value)
        assert not (tmp_path / "config.json").exists()  # nothing written
    finally:
        proc.kill()
        proc.wait()


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "lock").read_text().strip() == str(proc.pid)  # stale file
    workdir.prepare(str(tmp_path), {"seed": 1})
    assert (tmp_path / "lock").read_text().strip() == str(os.getpid())


def test_real_lock_blocks_another_process(tmp_path):
    workdir.prepare(str(tmp_path), {"seed": 1})
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('lock', {REPO!r} + "
        "'/keras_enas/run/lock.py')\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "try:\n    m.lock(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True
    )
    assert f"in use by process {os.getpid()} " in out.stdout


def test_failed_start_does_not_block_the_corrected_run(tmp_path):
    """Fault 10: config.json of a start that saved no checkpoint is replaced."""
    workdir.prepare(str(tmp_path), {"child": {"bptt": 1000000}})  # then failed
    workdir.prepare(str(tmp_path), {"child": {"bptt": 35}})  # the corrected command
    assert json.loads((tmp_path / "config.json").read_text()) == {"child": {"bptt": 35}}
    _saved_run(tmp_path, epochs=1)  # once a checkpoint exists, the config is the run's
    with pytest.raises(ValueError, match=r"differs in: child\.bptt"):
        workdir.prepare(str(tmp_path), {"child": {"bptt": 20}})


def _write_logs(path, epochs, cut=True):
    """log.jsonl / history.csv / TensorBoard as a run killed after logging `epochs`."""
    with open(path / "log.jsonl", "w") as f:
        for e in range(1, epochs + 1):
            f.write(json.dumps({"epoch": e, "loss": 1.0 / e}) + "\n")
        if cut:
            f.write('{"epoch": %d, "lo' % (epochs + 1))  # a line cut by the kill
    with open(path / "history.csv", "w", newline="") as f:
        rows = "".join(f"{e},{1.0 / e}\r\n" for e in range(1, epochs + 1))
        f.write("epoch,loss\r\n" + rows)  # epochs from 1, as run.logs.CSVLogger
        if cut:
            f.write(f"{epochs + 1},0.1")
    for sub, first in (("train", 0), ("controller", 1)):
        writer = tf.summary.create_file_writer(str(path / "tensorboard" / sub))
        with writer.as_default():
            for e in range(epochs):
                tf.summary.scalar("epoch_loss", 1.0, step=e + first)
        writer.close()
    writer = tf.summary.create_file_writer(str(path / "tensorboard" / "validation"))
    with writer.as_default():  # Keras: per-iteration steps (here 4 steps an epoch)
        for e in range(epochs):
            tf.summary.scalar("evaluation_loss_vs_iterations", 1.0, step=4 * (e + 1))
    writer.close()


def _tensorboard_steps(path):
    steps = {}
    for root, _, names in os.walk(path / "tensorboard"):
        for name in names:
            for record in tf.data.TFRecordDataset(os.path.join(root, name)):
                event = tf.compat.v1.Event.FromString(record.numpy())
                if event.HasField("summary"):
                    steps.setdefault(os.path.basename(root), []).append(event.step)
    return steps


def test_logs_are_cut_back_to_the_restored_epoch(tmp_path):
    """Fault 5: a run killed after logging epoch 3 but checkpointing only epoch 2."""
    _write_logs(tmp_path, epochs=3)
    log_repair.truncate_logs(str(tmp_path), 2, steps_done=8)
    # The resumed run appends epoch 3 again: every epoch once, no line swallowed.
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 3, "loss": 0.3}) + "\n")
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    rows = list(csv.DictReader(open(tmp_path / "history.csv", newline="")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    steps = _tensorboard_steps(tmp_path)
    assert steps == {"train": [0, 1], "controller": [1, 2], "validation": [4, 8]}


def test_jsonl_holds_no_bare_nan_or_infinity(tmp_path):
    logger = logs.JsonlLogger(str(tmp_path / "log.jsonl"))
    logger.on_epoch_end(0, {"loss": float("nan"), "ppl": np.float32("inf"), "ok": 1.5})
    line = (tmp_path / "log.jsonl").read_text()
    record = json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert record["loss"] is None and record["ppl"] is None and record["ok"] == 1.5


def test_resume_cuts_logs_once_more_killed_mid_line(tmp_path):
    """A kill mid-line, then the resume: `fit_resumable` cuts before appending."""
    _write_logs(tmp_path, epochs=2)
    assert log_repair.truncate_logs(str(tmp_path), 2, 8) == 2  # the cut jsonl and csv rows
    assert log_repair.truncate_logs(str(tmp_path), 2, 8) == 0  # idempotent
