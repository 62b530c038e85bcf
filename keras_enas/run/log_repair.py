"""`truncate_logs`: on resume, cut every log of a run back to its restored checkpoint.

The loggers write an epoch's rows before its checkpoint, so a run killed in between
(or while writing) leaves rows of an epoch that will run again. Cutting them on resume
makes each epoch appear exactly once in `log.jsonl`, `history.csv` and TensorBoard; a
line cut mid-way by a kill is dropped too, so it cannot swallow the next record.
"""

import csv
import glob
import io
import json
import os

import tensorflow as tf
from absl import logging

# TensorBoard directories whose steps are 1-based epochs (the rest: Keras, 0-based).
ONE_BASED_DIRS = ("controller",)


def truncate_logs(workdir, epochs_done, steps_done=None):
    """Drops the log records of epochs after `epochs_done` (and damaged ones) in `workdir`.

    TensorBoard summaries are kept by step: epoch summaries up to `epochs_done`, and
    those Keras writes against training iterations (tags `*_vs_iterations`) up to
    `steps_done` (the restored optimizer's iterations; None keeps them all).
    """
    dropped = _truncate_jsonl(os.path.join(workdir, "log.jsonl"), epochs_done)
    dropped += _truncate_csv(os.path.join(workdir, "history.csv"), epochs_done)
    pattern = os.path.join(workdir, "tensorboard", "**", "events.out.tfevents.*")
    for path in sorted(glob.glob(pattern, recursive=True)):
        one_based = os.path.basename(os.path.dirname(path)) in ONE_BASED_DIRS
        dropped += _truncate_events(path, epochs_done + (1 if one_based else 0), steps_done)
    if dropped:
        logging.warning(
            "Dropped %d log records written after the restored checkpoint (epoch %d) or "
            "cut by a kill; those epochs run again.",
            dropped,
            epochs_done,
        )
    return dropped


def _rewrite(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def _truncate_jsonl(path, epochs_done):
    if not os.path.isfile(path):
        return 0
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # empty, or cut by a kill
        if isinstance(record, dict) and isinstance(record.get("epoch"), int):
            if record["epoch"] <= epochs_done:
                kept.append(line)
    dropped = sum(1 for line in lines if line.strip()) - len(kept)
    if dropped:
        _rewrite(path, "".join(line + "\n" for line in kept))
    return dropped


def _truncate_csv(path, epochs_done):
    """`history.csv` (`run.logs.CSVLogger`: a header, then one row per epoch from 1)."""
    if not os.path.isfile(path):
        return 0
    with open(path, newline="", errors="replace") as f:
        text = f.read()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return 0
    header, kept, complete = rows[0], [rows[0]], text.endswith("\n")
    for i, row in enumerate(rows[1:], start=1):
        last = i == len(rows) - 1
        if len(row) != len(header) or (last and not complete):
            continue
        try:
            if int(row[0]) <= epochs_done:
                kept.append(row)
        except ValueError:
            continue
    dropped = len(rows) - len(kept)
    if dropped or not complete:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(kept)
        _rewrite(path, out.getvalue())
    return dropped


def _truncate_events(path, epochs, iterations=None):
    """Keeps the events of an event file whose summaries have step < `epochs` (or, for
    per-iteration tags, step <= `iterations`)."""
    kept, dropped = [], 0
    try:
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags = [v.tag for v in event.summary.value]
            if any(t.endswith("_vs_iterations") for t in tags):
                late = iterations is not None and event.step > iterations
            else:
                late = event.step >= epochs
            if event.HasField("summary") and late:
                dropped += 1
            else:
                kept.append(record.numpy())
    except tf.errors.OpError:
        dropped += 1  # a record cut by a kill, and anything after it
    if dropped:
        tmp = path + ".tmp"
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in kept:
                writer.write(record)
        os.replace(tmp, path)
    return dropped


__all__ = ["truncate_logs"]
