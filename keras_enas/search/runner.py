"""What every search run shares: the working directory, resume, callbacks, fit, the result file."""

import os

import keras
import tensorflow as tf

from keras_enas import progress
from keras_enas.search import callbacks as cb
from keras_enas.search import controller_logs
from keras_enas.search import derive, workdir as workdir_lib

BEST_ARCHITECTURE = "best_architecture.json"
NOTE = ("Scores are SEARCH-PHASE figures (shared weights); retrain the arc from scratch for "
        "final numbers.")


def prepare_run(config):
    """Checks `config.workdir`, sets op determinism if asked, writes or checks `config.json`.

    Returns:
        The working directory.

    Raises:
        ValueError: if `workdir` is unset, or holds a run with a different config.
    """
    if not config.workdir:
        raise ValueError("`workdir` must be set. Received: workdir=None")
    if config.search.deterministic:
        tf.config.experimental.enable_op_determinism()
    workdir_lib.prepare(config.workdir, config.to_dict())
    return config.workdir


def fit_search(search, config, train_ds, valid_ds, callbacks=(), steps_per_epoch=None):
    """Restores the newest checkpoint in `config.workdir`, then fits up to `num_epochs`.

    Each epoch ends with the controller phase, then `callbacks`, then the logs
    (`history.csv`, `tensorboard/`, `log.jsonl`) and a checkpoint of everything:
    the search (shared weights, controller, counters), the child optimizer and the
    controller trainer (Adam, baseline, accumulators).

    Args:
        search: a built and compiled `ENASSearch` subclass.
        config: a search config with `workdir`, `controller` and `search` sections.
        train_ds: `tf.data.Dataset` of training minibatches (one epoch per pass, or
            an endless stream cut by `search.steps_per_epoch`).
        valid_ds: `tf.data.Dataset` of validation minibatches.
        callbacks: task callbacks run after the controller phase, before the logs.
        steps_per_epoch: overrides `config.search.steps_per_epoch` (e.g. the number of
            minibatches in one pass, so that a resumed run continues the same stream).
    """
    s, workdir = config.search, config.workdir
    steps = steps_per_epoch or s.steps_per_epoch
    manager = workdir_lib.checkpoint_manager(
        workdir, search=search, child_optimizer=search.optimizer, trainer=search.trainer)
    workdir_lib.restore_latest(manager)
    initial_epoch = int(search.epochs_done.numpy())
    phase = cb.ControllerPhase(num_updates=config.controller.train_steps,
                               every=s.controller_every, num_logged=s.log_num_arcs,
                               num_marginal_samples=s.log_marginal_samples)
    callbacks = [
        phase, *callbacks,
        controller_logs.MarginalsTensorBoard(
            os.path.join(workdir, "tensorboard", "controller"), source=phase),
        keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
        cb.JsonlLogger(os.path.join(workdir, "log.jsonl"), samples_from=phase),
        cb.Checkpoint(manager), progress.Progress(s.log_every_secs)]
    if steps:
        # Epochs are windows of one endless stream; a resumed run skips what was used.
        train_ds = train_ds.repeat().skip(initial_epoch * steps)
    if s.valid_steps:
        valid_ds = valid_ds.take(s.valid_steps)
    if initial_epoch < s.num_epochs:
        search.fit(train_ds, epochs=s.num_epochs, initial_epoch=initial_epoch,
                   steps_per_epoch=steps or None, validation_data=valid_ds,
                   callbacks=callbacks, verbose=2, shuffle=False)


def steps_per_epoch(config, train_ds):
    """`config.search.steps_per_epoch`, or the minibatches of one pass over `train_ds`.

    Raises:
        ValueError: if neither is known (an endless or unsized dataset).
    """
    steps = config.search.steps_per_epoch or int(train_ds.cardinality())
    if steps < 1:
        raise ValueError("`train_ds` must have a known, finite cardinality, or set "
                         f"`steps_per_epoch`. Received: cardinality={steps}")
    return steps


def derive_best(search, config):
    """Samples and scores `derive_num_samples` arcs (see `derive.derive`); best first."""
    s = config.search
    return derive.derive(search, s.derive_num_samples, s.derive_scoring,
                         num_batches=s.derive_num_batches)


def result_record(search, config, ranked, score_keys, **fields):
    """The `best_architecture.json` record of a search, `fields` added after the arc.

    Args:
        search: the search (its `space` decodes the arcs).
        config: the search config.
        ranked: `derive_best`'s list, best first.
        score_keys: which scores of each ranked arc to keep, e.g. `("accuracy",)`.
        **fields: space-specific entries, e.g. `fixed_arc` and other arc formats.
    """
    space, s, best = search.space, config.search, ranked[0]["arc"]
    return {
        "search_space": space.name,
        "space_config": space.get_config(),
        "strategy": s.strategy,
        **fields,
        "arc": space.format_arc(best),
        "decoded": space.decode(best).to_dict(),
        "decoded_text": str(space.decode(best)),
        "scoring": s.derive_scoring,
        "scoring_num_batches": s.derive_num_batches if s.derive_scoring == "minibatch" else None,
        "top_k": [{"arc": space.format_arc(r["arc"]), "decoded_text": str(space.decode(r["arc"])),
                   **{k: r[k] for k in score_keys}} for r in ranked[:s.derive_top_k]],
        "scores": [{"arc": space.format_arc(r["arc"]), **{k: r[k] for k in score_keys}}
                   for r in ranked],
        "note": NOTE,
    }


def write_result(workdir, record):
    """Writes `record` as `<workdir>/best_architecture.json`; returns the path."""
    path = os.path.join(workdir, BEST_ARCHITECTURE)
    cb.write_json(path, record)
    return path
