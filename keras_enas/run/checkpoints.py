"""Checkpoints of a run: every variable of every model, and a restore that survives bad files."""

import glob
import os
import re
import shutil

import tensorflow as tf
from absl import logging

from keras_enas.run import cluster
from keras_enas.run.errors import CheckpointError

CHECKPOINT_DIR = cluster.CHECKPOINT_DIR
_CKPT = re.compile(r"^ckpt-(\d+)\.index$")


def checkpoint_manager(workdir, **trackables):
    """A `tf.train.CheckpointManager` over `trackables` in `<workdir>/checkpoints`.

    Besides the objects themselves, every variable of every object among `trackables`
    that has `variables` (models, layers, optimizers) is added by position:
    `tf.train.Checkpoint` does not reach variables of layers held in lists or dicts
    (e.g. the BatchNorm statistics of shared CNN layers), nor Keras `SeedGenerator`
    states. Positions are stable for models built the same way.

    Args:
        workdir: the run's working directory.
        **trackables: the objects to save (models, optimizers, dicts of variables).

    Returns:
        The manager (keeps the two newest checkpoints).
    """
    every = {}
    for name, obj in trackables.items():
        variables = getattr(obj, "variables", None)
        if isinstance(variables, (list, tuple)) and variables:
            every[name] = {f"v{i}": v for i, v in enumerate(variables)}
    checkpoint = tf.train.Checkpoint(every_variable=every, **trackables)
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(workdir, CHECKPOINT_DIR), max_to_keep=2
    )
    unique = {id(v): v for group in every.values() for v in group.values()}
    # Weights and statistics are checked for NaN/inf before a save (other state, e.g. an
    # `inf` "best so far" sentinel, may legitimately be infinite).
    manager.saved_variables = [
        v for v in unique.values() if v.trainable or "moving_" in getattr(v, "path", "")
    ]
    return manager


def candidates(directory):
    """Paths `directory/ckpt-N` that have an index file, newest (largest N) first."""
    found = []
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        match = _CKPT.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name[: -len(".index")])))
    return [path for _, path in sorted(found, reverse=True)]


def remove_stale_temp(directory):
    """Deletes `ckpt-N_temp/` directories a killed save left behind. Returns their paths."""
    stale = [p for p in glob.glob(os.path.join(directory, "*_temp")) if os.path.isdir(p)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        logging.warning("Removed %s, left by a checkpoint save that did not finish.", path)
    return stale


def restore_latest(manager):
    """Restores the newest checkpoint that restores; returns True when one was restored.

    The `ckpt-N.index` files are listed (the `checkpoint` state file is not trusted:
    a garbage one would silently restart the run). A checkpoint that fails to restore
    (truncated data, garbage index, missing objects) is reported in the log and the
    next older one is tried. Stale `ckpt-N_temp/` directories are removed. A non-chief
    multi-worker restores from the chief's checkpoints (`run.cluster`) and removes nothing.

    Raises:
        CheckpointError: if checkpoints exist but none restores (one line naming the newest).
    """
    directory = cluster.restore_directory(manager.directory)
    if directory == manager.directory:
        remove_stale_temp(directory)
    paths = candidates(directory)
    errors = []
    for path in paths:
        try:
            manager.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError) as e:
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            errors.append(path)
            logging.warning(
                "Checkpoint %s does not restore (%s); trying an older one.", path, reason
            )
            continue
        if errors:
            logging.warning("Resumed from %s, the newest checkpoint that restores.", path)
        else:
            logging.info("Resumed from %s", path)
        # A broken newer checkpoint is overwritten when its epoch is saved again.
        return True
    if paths:
        raise CheckpointError(
            f"No checkpoint in {directory} restores (newest: {paths[0]}.index, "
            f"{len(paths)} tried): move {directory} away to start afresh."
        )
    return False


__all__ = ["candidates", "checkpoint_manager", "remove_stale_temp", "restore_latest"]
