"""`fit_resumable`: the resume + fit skeleton of every search and final training."""

import os

import tensorflow as tf
from absl import logging

from keras_enas.run import log_repair, logs, nonfinite
from keras_enas.run import workdir as workdir_lib

__all__ = ["check_workdir", "fit_resumable", "steps_per_epoch", "enable_determinism"]


def check_workdir(workdir, deterministic=False):
    """Checks that `workdir` is set and turns on op determinism if asked.

    Raises:
        ValueError: if `workdir` is unset.
    """
    if not workdir:
        raise ValueError("`workdir` must be set. Received: workdir=None")
    if deterministic:
        enable_determinism()


def enable_determinism():
    """TensorFlow op determinism, and one inter-op thread, so that runs are bit-identical.

    Op determinism alone is not enough on CPU: with several inter-op threads, two fresh
    `train_ptb` runs differed in the last bits of the weights after 20 steps (issue 11,
    fault 6), and not with one. The thread count can only be set before TensorFlow
    starts its runtime, so the programs set `TF_NUM_INTEROP_THREADS=1` when they parse a
    deterministic config (`cli.config_from_flags`); here it is set if still possible.
    """
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started
        if os.environ.get("TF_NUM_INTEROP_THREADS") != "1":
            logging.warning(
                "Deterministic run, but TensorFlow started with several inter-op threads: "
                "set TF_NUM_INTEROP_THREADS=1 before it starts for bit-identical runs."
            )


def steps_per_epoch(steps, train_ds, name="steps_per_epoch"):
    """`steps`, or the minibatches of one pass over `train_ds` when `steps` is 0.

    Raises:
        ValueError: if neither is known (an endless or unsized dataset).
    """
    steps = steps or int(train_ds.cardinality())
    if steps < 1:
        raise ValueError(
            "`train_ds` must have a known, finite cardinality, or set "
            f"`{name}`. Received: cardinality={steps}"
        )
    return steps


def fit_resumable(
    model,
    workdir,
    trackables,
    train_ds,
    num_epochs,
    steps_per_epoch=None,
    validation_data=None,
    callbacks=(),
    samples_from=None,
    log_every_secs=None,
    nonfinite_limit=None,
    nonfinite_setting="max_nonfinite_steps",
    nonfinite_hint="",
    **fit_kwargs,
):
    """Restores the newest checkpoint in `workdir`, then fits `model` up to `num_epochs`.

    Each epoch ends with `callbacks`, then the logs (`history.csv`, `tensorboard/`,
    `log.jsonl`) and a checkpoint of every variable of every object in `trackables`.
    On (re)start the logs are cut back to the restored epoch, so each epoch appears
    once in each (`log_repair`). With `steps_per_epoch`, epochs are windows of one
    endless stream and a resumed run skips the minibatches already used.

    Args:
        model: a compiled `keras.Model` with an int64 `epochs_done` variable.
        workdir: the run's working directory (checkpoints in `checkpoints/`).
        trackables: dict of objects to checkpoint (the model, its optimizers, ...).
        train_ds: `tf.data.Dataset` of training minibatches.
        num_epochs: the epoch to fit up to.
        steps_per_epoch: minibatches per epoch, or None for one pass of `train_ds`.
        validation_data: passed to `fit`.
        callbacks: run before the logs, in order.
        samples_from: a `ControllerPhase` whose samples `log.jsonl` records.
        log_every_secs: seconds between progress lines within an epoch (None: none).
        nonfinite_limit: stop (`DivergenceError`) once the model's `nonfinite_steps`
            log passes this (None: no limit).
        nonfinite_setting, nonfinite_hint: the flag that sets the limit and what else
            to change, for the error.
        **fit_kwargs: more `fit` arguments (e.g. `shuffle=False`).

    Returns:
        The epoch the run started from (0 for a fresh run).

    Example:
    >>> fit_resumable(trainer, "runs/x", {"trainer": trainer, "optimizer": trainer.optimizer},
    ...               train_ds, num_epochs=10, steps_per_epoch=100)  # doctest: +SKIP
    0
    """
    manager = workdir_lib.checkpoint_manager(workdir, **trackables)
    workdir_lib.restore_latest(manager)
    initial_epoch = int(model.epochs_done.numpy())
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    log_repair.truncate_logs(
        workdir, initial_epoch, None if iterations is None else int(iterations.numpy())
    )
    if nonfinite_limit is not None:
        stop = nonfinite.NonFiniteStop(nonfinite_limit, nonfinite_setting, nonfinite_hint)
        callbacks = [stop, *callbacks]
    if steps_per_epoch:
        # Epochs are windows of one endless stream; a resumed run skips what was used.
        train_ds = train_ds.repeat().skip(initial_epoch * steps_per_epoch)
    if initial_epoch < num_epochs:
        model.fit(
            train_ds,
            epochs=num_epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch or None,
            validation_data=validation_data,
            callbacks=[
                *callbacks,
                *logs.run_loggers(workdir, manager, samples_from, log_every_secs),
            ],
            verbose=2,
            **fit_kwargs,
        )
    return initial_epoch
