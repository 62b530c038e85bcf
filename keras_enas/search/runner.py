"""What every built-in search run shares: its workdir check, the resumable fit, deriving."""

import os

from keras_enas.run import faults
from keras_enas.run import fit as fit_lib
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import callbacks as cb
from keras_enas.search import controller_logs, derive

__all__ = ["derive_best", "fit_search", "prepare_run", "search_trackables", "restore_search"]


def prepare_run(config):
    """Checks `config.workdir`, sets op determinism if asked, writes or checks `config.json`.

    Returns:
        The working directory.

    Raises:
        ValueError: if `workdir` is unset, or holds a run with a different config.
    """
    fit_lib.check_workdir(config.workdir, config.search.deterministic)
    workdir_lib.prepare(config.workdir, config.to_dict())
    return config.workdir


def fit_search(search, config, train_ds, valid_ds, callbacks=(), steps_per_epoch=None):
    """Restores the newest checkpoint in `config.workdir`, then fits up to `num_epochs`.

    Each epoch ends with the controller phase, then `callbacks`, then the logs
    (`history.csv`, `tensorboard/`, `log.jsonl`) and a checkpoint of everything:
    the search (shared weights, controller, counters), the child optimizer and the
    controller trainer (Adam, baseline, accumulators). See `run.fit.fit_resumable`.

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
    s = config.search
    phase = cb.ControllerPhase(
        num_updates=config.controller.train_steps,
        every=s.controller_every,
        num_logged=s.log_num_arcs,
        num_marginal_samples=s.log_marginal_samples,
    )
    marginals_tb = controller_logs.MarginalsTensorBoard(
        os.path.join(config.workdir, "tensorboard", "controller"), source=phase
    )
    if s.valid_steps:
        valid_ds = valid_ds.take(s.valid_steps)
    fit_lib.fit_resumable(
        search,
        config.workdir,
        search_trackables(search),
        train_ds,
        s.num_epochs,
        steps_per_epoch=steps_per_epoch or s.steps_per_epoch,
        validation_data=valid_ds,
        callbacks=[phase, *callbacks, marginals_tb],
        samples_from=phase,
        shuffle=False,
        log_every_secs=s.log_every_secs,
        nonfinite_limit=s.max_nonfinite_steps,
        nonfinite_setting="--search_max_nonfinite_steps",
        nonfinite_hint="Lower --child_learning_rate (or --child_lr_max) or clip with "
        "--child_grad_clip. ",
    )


def search_trackables(search):
    """What a search checkpoints: itself, the child optimizer, the controller trainer.

    A search that defines `checkpoint_trackables()` (the user `ENAS`) says it itself.
    """
    if hasattr(search, "checkpoint_trackables"):
        return search.checkpoint_trackables()
    return {
        "search": search,
        "child_optimizer": search.optimizer,
        "trainer": search.trainer,
        "controller_optimizer": search.trainer.optimizer,
    }


def restore_search(search, workdir):
    """Restores `search` from the newest checkpoint in `workdir` and returns it.

    Raises:
        FileNotFoundError: if the working directory has no checkpoint.
    """
    manager = workdir_lib.checkpoint_manager(workdir, **search_trackables(search))
    if not workdir_lib.restore_latest(manager):
        raise FileNotFoundError(
            f"No checkpoint in {workdir}/checkpoints: run (part of) the search first."
        )
    return search


def derive_best(search, config, build_search=None, train_ds=None):
    """Samples and scores `derive_num_samples` arcs (see `derive.derive`); best first.

    With `config.search.derive_train_steps` > 0 (and `build_search`, `train_ds` given),
    the top `derive_top_k` are re-ranked after a short training from scratch
    (`derive_train.train_top_k`).
    """
    s = config.search
    faults.point("derive")
    ranked = derive.derive(
        search, s.derive_num_samples, s.derive_scoring, num_batches=s.derive_num_batches
    )
    if s.derive_train_steps and build_search is not None and train_ds is not None:
        from keras_enas.search import derive_train

        ranked = derive_train.train_top_k(
            build_search,
            ranked,
            s.derive_top_k,
            s.derive_train_steps,
            train_ds,
            s.derive_scoring,
            s.derive_num_batches,
        )
    return ranked
