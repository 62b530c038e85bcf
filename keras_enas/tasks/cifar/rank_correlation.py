"""Rank correlation of a CIFAR-10 search (macro, micro): shared-weight accuracy against
accuracy after training from scratch (`search.rank.rank_correlation`).

The shared score of an arc is its accuracy on the same M held-out minibatches; the final
score is its accuracy on the whole held-out split after training from scratch on the
training split with the budget of a `train_cifar10` flagfile (`CIFARFinalConfig`).
"""

import dataclasses

import keras

from keras_enas.config import base as config_base
from keras_enas.config.cifar import CIFARSearchConfig
from keras_enas.run import cluster
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import rank, runner
from keras_enas.tasks.cifar import search as cifar_search
from keras_enas.tasks.cifar import train as train_lib
from keras_enas.tasks.cifar.schedules import CosineRestarts


def load_cifar_search_config(search_workdir, config_dict):
    """The `CIFARSearchConfig` of a search's `config.json` dict, its workdir where it is now."""
    config = config_base.from_dict(CIFARSearchConfig, config_dict)
    return dataclasses.replace(config, workdir=search_workdir)


def reopen_cifar_search(search_config, reward_data, mean, std):
    """Builds the search of `search_config` on real held-out data and restores it.

    Raises:
        FileNotFoundError: if the search's working directory has no checkpoint.
    """
    search = cifar_search.build_cifar_search(search_config, reward_data, mean, std)
    return runner.restore_search(search, search_config.workdir)


@cluster.chief_writes
def run_cifar_rank_correlation(
    config, search_config, final_config, reward_data, train_ds, valid_ds, mean, std
):
    """Runs (or resumes) the study; writes `ranking.json` (`shared_accuracy` against
    `final_accuracy`) and `ranking.png` into `config.workdir`.

    Args:
        config: a `config.rank.RankCorrelationConfig` (its K, source, M, seed, workdir).
        search_config: the search's `CIFARSearchConfig` (`load_cifar_search_config`).
        final_config: a `CIFARFinalConfig` whose `child` and `train` sections are the
            from-scratch budget (e.g. read from configs/cifar10_*_final_smoke.flags).
        reward_data: the held-out `(images uint8, labels)` split.
        train_ds: augmented training minibatches; valid_ds: held-out minibatches
            (standardised), on which each trained arc's accuracy is measured.
        mean, std: per-channel statistics of the training split.

    Returns:
        The dict written to `ranking.json`.
    """
    workdir_lib.prepare(config.workdir, config.to_dict())
    final_config = dataclasses.replace(
        final_config, search_space=search_config.search_space, seed=config.seed
    )
    image_shape = tuple(train_ds.element_spec[0].shape[1:])
    space = space_of(search_config)

    def train(arc, index):
        del index
        return train_from_scratch(final_config, space, arc, train_ds, valid_ds, image_shape)

    return rank.rank_correlation(
        lambda: reopen_cifar_search(search_config, reward_data, mean, std),
        train,
        config.workdir,
        num_arcs=config.num_arcs,
        arc_source=config.arc_source,
        score_num_batches=config.score_num_batches,
        metric="accuracy",
        bootstrap_resamples=config.bootstrap_resamples,
        seed=config.seed,
        details={
            "search_workdir": search_config.workdir,
            "train_budget": {
                "child": dataclasses.asdict(final_config.child),
                "train": dataclasses.asdict(final_config.train),
            },
        },
    )


def space_of(search_config):
    """The search space of a `CIFARSearchConfig`."""
    from keras_enas.models import cifar_models

    return cifar_models.space_from_config(search_config.search_space, search_config.child)


def train_from_scratch(final_config, space, arc, train_ds, valid_ds, image_shape):
    """Trains `arc`'s fixed network with `final_config`'s budget; held-out accuracy.

    Returns:
        The accuracy (float in [0, 1]) on the minibatches of `valid_ds` (the first
        `train.test_steps` if set).
    """
    from keras_enas.run import progress

    c, t = final_config.child, final_config.train
    keras.utils.set_random_seed(final_config.seed)
    model = train_lib.build_cifar_model(final_config, space, arc, image_shape)
    trainer = train_lib.build_trainer(final_config, model)
    trainer.fit(
        train_ds.repeat() if t.steps_per_epoch else train_ds,
        epochs=t.num_epochs,
        steps_per_epoch=t.steps_per_epoch or None,
        verbose=0,
        callbacks=[
            CosineRestarts(c.lr_max, c.lr_min, c.lr_t0, c.lr_t_mul),
            progress.Progress(t.log_every_secs),
        ],
    )
    if t.test_steps:
        valid_ds = valid_ds.take(t.test_steps)
    return float(trainer.evaluate(valid_ds, return_dict=True, verbose=0)["accuracy"])


__all__ = [
    "load_cifar_search_config",
    "reopen_cifar_search",
    "run_cifar_rank_correlation",
    "space_of",
    "train_from_scratch",
]
