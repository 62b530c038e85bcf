"""Multi-worker runs: only the chief writes the working directory (TF's convention).

Under `MultiWorkerMirroredStrategy` every worker runs the same program in lockstep
(checkpoints and logs included: saving reads variables with collective ops). The
chief writes into the real `workdir`; every other worker writes into a temporary
directory of its own, removed at the end, which starts as a copy of the chief's
files (logs, `arcs.jsonl`, ...; not its checkpoints nor its lock) and restores from the
chief's checkpoints, so that all workers resume from the same state and take the same
resume decisions. Workers therefore need the chief's
`workdir` on a shared filesystem (or a copy of its `checkpoints/` at the same path).
"""

import dataclasses
import functools
import os
import shutil
import tempfile

import tensorflow as tf

from keras_enas.run.lock import LOCK_FILE

CHECKPOINT_DIR = "checkpoints"  # a workdir's checkpoint folder (run.checkpoints writes it)

# A worker's temporary directory → the chief's workdir it stands for.
__all__ = ["chief_writes", "is_chief", "restore_directory"]

_CHIEF_DIRS = {}


def is_chief(strategy=None):
    """Whether this process writes results: True except on non-chief multi-workers.

    Args:
        strategy: the run's strategy (default: the current one; None-safe).
    """
    return (strategy or tf.distribute.get_strategy()).extended.should_checkpoint


def restore_directory(directory):
    """Where a checkpoint directory is restored from: the chief's, for a worker's temp dir."""
    path = os.path.abspath(directory)
    for local, chief in _CHIEF_DIRS.items():
        if path == local or path.startswith(local + os.sep):
            return os.path.join(chief, os.path.relpath(path, local))
    return directory


def chief_writes(run):
    """Decorates `run(config, ...)`: a non-chief worker runs it on a temporary workdir.

    The programs check the chief's `config.json` on every worker first
    (`workdir.prepare(..., write=False)`), so a run the chief refuses is refused by all.
    """

    @functools.wraps(run)
    def wrapper(config, *args, **kwargs):
        if is_chief() or not config.workdir:
            return run(config, *args, **kwargs)
        local = os.path.abspath(tempfile.mkdtemp(prefix="keras_enas_worker_"))
        if os.path.isdir(config.workdir):  # what the chief's resume reads, but checkpoints
            shutil.copytree(
                config.workdir,
                local,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(CHECKPOINT_DIR, LOCK_FILE),
            )
        _CHIEF_DIRS[local] = os.path.abspath(config.workdir)
        try:
            return run(dataclasses.replace(config, workdir=local), *args, **kwargs)
        finally:
            _CHIEF_DIRS.pop(local, None)
            shutil.rmtree(local, ignore_errors=True)

    return wrapper
