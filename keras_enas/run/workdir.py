"""The working directory: lock, resolved config, run info; checkpoints (`run.checkpoints`)."""

import json
import os

from absl import logging

from keras_enas.run import checkpoints
from keras_enas.run import lock as lock_lib
from keras_enas.run.checkpoints import checkpoint_manager, restore_latest  # noqa: F401
from keras_enas.run.files import read_json, write_json

__all__ = [
    "checkpoint_manager",
    "CONFIG_FILE",
    "make_workdir",
    "prepare",
    "read_config",
    "read_run_info",
    "restore_latest",
    "RESUMABLE_KEYS",
    "RUN_INFO_FILE",
    "write_run_info",
]

CONFIG_FILE = "config.json"
# What rebuilding a run needs beyond its config (e.g. the vocabulary size); see `load_search`.
RUN_INFO_FILE = "run_info.json"


def prepare(workdir, config_dict, write=True):
    """Creates `workdir`, takes its lock, and writes `config.json`, or checks it on resume.

    Call it only once the whole config is validated. A `config.json` left by a start
    that failed before finishing one epoch (no checkpoint) is replaced, so that the
    corrected command runs.

    A resumed run may change only `RESUMABLE_KEYS` (e.g. a longer `search.num_epochs`
    extends a search); `config.json` is then rewritten with the new values.
    With `write=False` (a non-chief multi-worker) nothing is created or written; an
    existing `config.json` is only checked.

    Raises:
        ValueError: if another process holds the workdir's lock (`run.lock`), or the
            workdir holds a checkpointed run with a different config (nothing in it is
            touched), since resuming it with other settings would mix two experiments.
    """
    if write:  # a non-chief multi-worker neither locks nor writes the chief's workdir
        make_workdir(workdir)
        lock_lib.lock(workdir)
    path = os.path.join(workdir, CONFIG_FILE)
    config_dict = json.loads(json.dumps(config_dict))
    if os.path.exists(path):
        saved = read_config(workdir)
        diff = sorted(_diff(saved, config_dict))
        if diff and checkpoints.candidates(os.path.join(workdir, checkpoints.CHECKPOINT_DIR)):
            raise ValueError(
                f"Working directory {workdir} holds a run with a different config "
                f"(differs in: {', '.join(diff)}). Use a new --workdir, or the same "
                "settings to resume it."
            )
        changed = sorted(_diff(saved, config_dict, keys_kept=()))
        if not changed:
            return
        if diff:
            logging.warning(
                "%s is replaced: it belongs to a start that saved no checkpoint "
                "(it differed in: %s).",
                path,
                ", ".join(diff),
            )
        else:
            logging.info("%s: resumed with new %s", workdir, ", ".join(changed))
    if write:
        _write(path, config_dict)  # a resumed run records its new epoch count, paths


def make_workdir(workdir):
    """Creates `workdir` (and its parents) and checks that files can be written in it.

    Raises:
        ValueError: one line naming `workdir` and the reason, if it is a file, cannot be
            created, or is not writable (read-only or full file system).
    """
    workdir = os.fspath(workdir)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"`--workdir` must be a directory. Received: {workdir} is a file.")
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write_test.{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ValueError(f"Cannot write in --workdir={workdir}: {_reason(e)}") from None


def _write(path, obj):
    """`write_json`, a write error (e.g. a full disk) as a one-line ValueError."""
    try:
        write_json(path, obj)
    except OSError as e:
        raise ValueError(f"Cannot write {path}: {_reason(e)}") from None


def _reason(error):
    """`[Errno 28] No space left on device` → `No space left on device (errno 28)`."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} (errno {error.errno})"
    return str(error)


# Settings that may change when a run is resumed: where it lives, how long it runs, how
# the final architecture is derived (derive settings do not touch the trained state), and
# on which devices (batch sizes are global, so the devices do not change the experiment).
RESUMABLE_KEYS = (
    "workdir",
    "data_dir",
    "search.num_epochs",
    "search.max_nonfinite_steps",
    "search.derive_train_steps",
    "search.derive_top_k",
    "search.derive_num_batches",
    "derive_top_k",
    "log_marginal_samples",
    "search.log_marginal_samples",
    "distribute.distribution_strategy",
    "distribute.tpu",
)


def _diff(a, b, prefix="", keys_kept=RESUMABLE_KEYS):
    """Names of the leaves where nested dicts `a` and `b` differ (`keys_kept` excluded)."""
    out = []
    for key in sorted(set(a) | set(b)):
        if prefix + key in keys_kept:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) or isinstance(vb, dict):  # a section one side lacks: {}
            out += _diff(va or {}, vb or {}, prefix + key + ".", keys_kept)
        elif va != vb:
            out.append(prefix + key)
    return out


def write_run_info(workdir, **info):
    """Writes `<workdir>/run_info.json`: the data-derived sizes a rebuild needs (no data)."""
    write_json(os.path.join(workdir, RUN_INFO_FILE), info)


def read_run_info(workdir):
    """Reads `<workdir>/run_info.json` ({} if the run predates it)."""
    path = os.path.join(workdir, RUN_INFO_FILE)
    return read_json(path) if os.path.exists(path) else {}


def read_config(workdir):
    """Reads the `config.json` of a run.

    Raises:
        FileNotFoundError: if `workdir` holds no `config.json`.
        ValueError: naming the file, if it is not a JSON object (corrupt, not UTF-8, a list).
    """
    path = os.path.join(os.fspath(workdir), CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No run in {workdir}: {CONFIG_FILE} not found.")
    return read_json(path, expect=dict)
