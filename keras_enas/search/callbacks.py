"""Keras callbacks that run the search's epoch-level work: θ phases, state resets, logs."""

import json
import os
import time

import keras
import numpy as np
from absl import logging

from keras_enas import marginals as marginals_lib


class ControllerPhase(keras.callbacks.Callback):
    """Runs `search.controller_phase` at the end of each epoch and adds its figures.

    The figures go into the epoch's `logs` (prefixed `controller_`), so callbacks that
    run later (CSVLogger, TensorBoard, `JsonlLogger`) record them. The last sampled
    arcs and their rewards are logged and kept in `self.samples`; with
    `num_marginal_samples`, the controller's per-decision marginals after the phase
    (`keras_enas.marginals.controller_marginals`) are kept in `self.marginals`.

    Args:
        num_updates: θ updates per phase; None reads `search.controller_updates`.
        every: run the phase every this many epochs.
        num_logged: sampled arcs to print with their rewards.
        num_marginal_samples: arcs the marginals are estimated from (0: none).
    """

    def __init__(self, num_updates=None, every=1, num_logged=10, num_marginal_samples=0):
        super().__init__()
        self.num_updates, self.every, self.num_logged = num_updates, every, num_logged
        self.num_marginal_samples = num_marginal_samples
        self.samples, self.marginals = [], None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if (epoch + 1) % self.every:
            return
        start = time.time()
        updates = self.num_updates
        if updates is None:
            updates = getattr(self.model, "controller_updates", 1)
        phase_logs, self.samples = self.model.controller_phase(updates, self.num_logged)
        for key, value in phase_logs.items():
            logs["controller_" + key] = value
        if self.num_marginal_samples and self.model.strategy == "enas":
            self.marginals = marginals_lib.controller_marginals(self.model,
                                                            self.num_marginal_samples)
        logs["controller_seconds"] = time.time() - start
        space = self.model.space
        for arc, reward in self.samples:
            logging.info("epoch %d  reward=%.4f  arc=%s", epoch + 1, reward,
                         space.format_arc(arc))


class ResetStates(keras.callbacks.Callback):
    """Zeros the carried hidden states at the start of every epoch and evaluation."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_states()

    def on_test_begin(self, logs=None):
        self.model.reset_states()


class EpochDecay(keras.callbacks.Callback):
    """lr = base · decay^max(0, epoch + 1 − start), set at the start of each epoch."""

    def __init__(self, base, decay, start):
        super().__init__()
        self.base, self.decay, self.start = base, decay, start

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.base * self.decay ** max(0, epoch + 1 - self.start)
        self.model.optimizer.learning_rate.assign(lr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate.numpy())


class JsonlLogger(keras.callbacks.Callback):
    """Appends one JSON line per epoch (all logs, wall time, sampled arcs) to `path`."""

    def __init__(self, path, samples_from=None):
        super().__init__()
        self.path, self.samples_from = path, samples_from
        self._start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, "seconds": round(time.time() - self._start, 3)}
        record.update({k: _plain(v) for k, v in (logs or {}).items()})
        if self.samples_from is not None and self.samples_from.samples:
            space = self.model.space
            record["sampled_arcs"] = [
                {"arc": space.format_arc(a), "reward": r} for a, r in self.samples_from.samples]
        if getattr(self.samples_from, "marginals", None) is not None:
            record["marginals"] = self.samples_from.marginals.to_dict()
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class Checkpoint(keras.callbacks.Callback):
    """Saves everything (a `tf.train.CheckpointManager`) after every epoch.

    `search.epochs_done` is set before saving, so a restored search knows where to
    resume (`initial_epoch`).
    """

    def __init__(self, manager):
        super().__init__()
        self.manager = manager

    def on_epoch_end(self, epoch, logs=None):
        self.model.epochs_done.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def _plain(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if hasattr(value, "numpy"):
        return _plain(value.numpy())
    return value


def write_json(path, obj):
    """Writes `obj` as indented JSON atomically (temp file + rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_plain)
    os.replace(tmp, path)
