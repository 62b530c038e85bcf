"""`describe_search`: what a search's `--dry_run` prints — its size, and its wall time
estimated from a few timed steps. Nothing is written to the working directory."""

import math
import time

import keras
import numpy as np

from keras_enas.run.progress import format_seconds
from keras_enas.search import callbacks as cb

__all__ = ["describe_search", "estimate_seconds"]


class _StepTimes(keras.callbacks.Callback):
    """Wall times of every epoch (the callbacks before this one included), and of the
    training and validation batches of the last epoch."""

    epochs = ()

    def on_epoch_begin(self, epoch, logs=None):
        self.train, self.valid = [], []
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = [*self.epochs, time.perf_counter() - self._epoch_start]

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(time.perf_counter() - self._start)

    def on_test_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_test_batch_end(self, batch, logs=None):
        self.valid.append(time.perf_counter() - self._start)


def _num_weights(variables):
    return int(sum(np.prod(v.shape) for v in variables))


def estimate_seconds(timed, config, steps_per_epoch, valid_steps):
    """The run's wall time from the timed costs: tracing, every epoch's ω steps and
    validation, the controller phases (every `controller_every` epochs), then deriving.

    Args:
        timed: dict of `tracing_seconds` (once per run), `train_step_seconds`,
            `valid_step_seconds` and `controller_update_seconds`: one update of θ with its
            `num_aggregate` rewarded arcs (strategy "enas"), or one uniform arc rewarded
            (strategy "random").
        config: the search config (`search`, `controller` sections).
        steps_per_epoch, valid_steps: minibatches per epoch of training and validation.
    """
    s, k = config.search, config.controller
    enas = s.strategy == "enas"
    per_epoch = (
        steps_per_epoch * timed["train_step_seconds"] + valid_steps * timed["valid_step_seconds"]
    )
    updates_per_phase = k.train_steps if enas else s.log_num_arcs
    phases = s.num_epochs // s.controller_every
    controller = phases * updates_per_phase * timed["controller_update_seconds"]
    per_reward = timed["controller_update_seconds"] / (max(1, k.num_aggregate) if enas else 1)
    derive = s.derive_num_samples * s.derive_num_batches * per_reward
    return timed["tracing_seconds"] + s.num_epochs * per_epoch + controller + derive


def describe_search(search, config, train_ds, valid_ds, steps_per_epoch, num_timed_steps=3):
    """Sizes the search and times a few of its steps; the dict `--dry_run` prints.

    Runs `search.fit` for two short epochs of `num_timed_steps` ω steps, two validation
    minibatches and one controller update (strategy "random": one uniform arc rewarded)
    each, with no callbacks that write; the second epoch, after tracing, is timed, and the
    first epoch's extra time is the run's tracing. Loading data and importing TensorFlow
    are not counted. The search's weights change: build a fresh one to
    search for real.

    Args:
        search: a built, compiled `ENASSearch` subclass.
        config: its search config.
        train_ds, valid_ds: the run's training and validation datasets.
        steps_per_epoch: ω steps per epoch of the real run.
        num_timed_steps: ω steps per timed epoch (≥ 1).

    Returns:
        A JSON-ready dict: `num_parameters` (shared child weights),
        `controller_parameters`, `search_space`, `space_config`, `num_architectures`
        (exact) and its `num_architectures_log10`, `num_epochs`, `steps_per_epoch`,
        `valid_steps`, the timed per-step costs, `estimated_seconds` and
        `estimated_wall_time` (e.g. "1h02m05s").
    """
    s, space = config.search, search.space
    valid_steps = s.valid_steps or int(valid_ds.cardinality())
    times = _StepTimes()
    phase = cb.ControllerPhase(num_updates=1, num_logged=0 if s.strategy == "enas" else 1)
    history = search.fit(
        train_ds.repeat(),
        epochs=2,
        steps_per_epoch=num_timed_steps,
        validation_data=valid_ds.take(2),
        callbacks=[phase, times],  # `times` last: an epoch's time includes the phase
        shuffle=False,
        verbose=0,
    )
    timed = {
        "tracing_seconds": float(max(0.0, times.epochs[0] - times.epochs[1])),
        "train_step_seconds": float(np.mean(times.train)),
        "valid_step_seconds": float(np.mean(times.valid)),
        "controller_update_seconds": float(history.history["controller_seconds"][-1]),
    }
    seconds = estimate_seconds(timed, config, steps_per_epoch, valid_steps)
    return {
        "num_parameters": _num_weights(search.child.trainable_variables),
        "controller_parameters": _num_weights(search.controller.trainable_variables),
        "search_space": space.name,
        "space_config": space.get_config(),
        "num_architectures": space.num_architectures,
        "num_architectures_log10": round(math.log10(space.num_architectures), 2),
        "strategy": s.strategy,
        "num_epochs": s.num_epochs,
        "steps_per_epoch": int(steps_per_epoch),
        "valid_steps": int(valid_steps),
        **{k: round(v, 4) for k, v in timed.items()},
        "estimated_seconds": round(seconds, 1),
        "estimated_wall_time": format_seconds(seconds),
    }
