"""Per-epoch loggers and the checkpoint callback every run writes into its workdir.

Epochs are numbered from 1 everywhere a person reads them: `history.csv`, `log.jsonl` and
the console (Keras' "Epoch 1/2", the progress lines). The learning rate has one
TensorBoard tag: `epoch_lr` where the run logs `lr`, else Keras' `epoch_learning_rate`.
"""

import datetime
import json
import os
import time

import keras

from keras_enas.run import faults, nonfinite
from keras_enas.run.files import finite_json
from keras_enas.run.progress import Progress

__all__ = [
    "Checkpoint",
    "CSVLogger",
    "JsonlLogger",
    "run_loggers",
    "TensorBoard",
    "utc_timestamp",
    "FaultPoint",
]


def utc_timestamp():
    """The current time as ISO 8601 UTC to the second, e.g. `2026-12-05T07:03:29Z`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


class CSVLogger(keras.callbacks.CSVLogger):
    """Keras' `CSVLogger` with epochs numbered from 1, as in `log.jsonl` and the console."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' `TensorBoard` that adds no `learning_rate` tag when the logs hold `lr` already,
    and flushes its event files at every epoch end (else the epoch's scalars may sit in the
    writer's buffer when the process is killed, and be missing after the resume)."""

    def _collect_learning_rate(self, logs):
        return logs if "lr" in logs else super()._collect_learning_rate(logs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for writer in self._writers.values():
            writer.flush()


class JsonlLogger(keras.callbacks.Callback):
    """Appends one JSON line per epoch (epoch from 1, UTC time, wall time, all logs, sampled
    arcs) to `path`.

    Args:
        path: the `.jsonl` file (appended to, so a resumed run continues it).
        samples_from: optional object with `samples`, a list of `(arc, reward)` pairs
            (a `ControllerPhase`), logged as `sampled_arcs` through `model.space`.
    """

    def __init__(self, path, samples_from=None):
        super().__init__()
        self.path, self.samples_from = path, samples_from
        self._start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        record = {
            "epoch": epoch + 1,
            "time": utc_timestamp(),
            "seconds": round(time.time() - self._start, 3),
        }
        record.update(logs or {})
        if self.samples_from is not None and self.samples_from.samples:
            space = self.model.space
            record["sampled_arcs"] = [
                {"arc": space.format_arc(a), "reward": r} for a, r in self.samples_from.samples
            ]
        if getattr(self.samples_from, "marginals", None) is not None:
            record["marginals"] = self.samples_from.marginals.to_dict()
        line = json.dumps(finite_json(record), allow_nan=False) + "\n"
        with open(self.path, "a") as f:
            half = faults.point("log_write") and len(line) // 2
            f.write(line[:half] if half else line)
            f.flush()
            faults.point("log_write_cut")


class FaultPoint(keras.callbacks.Callback):
    """The `train_step` fault-injection point (`run.faults`), after every training step."""

    def on_train_batch_end(self, batch, logs=None):
        faults.point("train_step")


class Checkpoint(keras.callbacks.Callback):
    """Saves everything (a `tf.train.CheckpointManager`) after every epoch.

    `model.epochs_done` is set before saving, so a restored run knows where to
    resume (`initial_epoch`). Weights that are not finite are never saved: the run
    stops with a `DivergenceError` and the last good checkpoint stays.
    """

    def __init__(self, manager):
        super().__init__()
        self.manager = manager

    def on_epoch_end(self, epoch, logs=None):
        nonfinite.check_finite(
            getattr(self.manager, "saved_variables", ()), f"at the end of epoch {epoch + 1}"
        )
        self.model.epochs_done.assign(epoch + 1)
        faults.point("checkpoint_before")
        self.manager.save(checkpoint_number=epoch + 1)
        faults.point("checkpoint_after")


def run_loggers(workdir, manager, samples_from=None, log_every_secs=None):
    """The callbacks every run ends its epochs with, in order.

    `history.csv`, `tensorboard/`, `log.jsonl` in `workdir`, then a checkpoint, then
    (with `log_every_secs`) the progress and ETA lines (`Progress`).
    """
    progress = [Progress(log_every_secs)] if log_every_secs is not None else []
    return [
        FaultPoint(),
        CSVLogger(os.path.join(workdir, "history.csv"), append=True),
        TensorBoard(os.path.join(workdir, "tensorboard")),
        JsonlLogger(os.path.join(workdir, "log.jsonl"), samples_from=samples_from),
        Checkpoint(manager),
        *progress,
    ]
