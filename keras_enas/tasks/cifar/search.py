"""`run_cifar_search`: a whole CIFAR-10 search (macro, or any registered space) in a workdir."""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_enas import distribute, precision
from keras_enas.config import base as config_base
from keras_enas.config.cifar import CIFARSearchConfig
from keras_enas.models import cifar_models
from keras_enas.run import cluster, records
from keras_enas.run import fit as fit_lib
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import dry_run, runner
from keras_enas.search_spaces import limits
from keras_enas.tasks import controller as controller_build
from keras_enas.tasks.cifar.schedules import CosineRestarts
from keras_enas.tasks.cifar.search_model import CIFARSearch


def build_cifar_search(config, reward_data, mean, std):
    """Builds and compiles a `CIFARSearch` from a `CIFARSearchConfig`.

    The space and the shared CNN come from the `cifar_models` registry entry of
    `config.search_space`; the controller walks the space's decisions with the
    config's settings (macro: skip decisions, KL skip penalty); the shared weights
    train with Nesterov SGD (reference §4.1).

    Args:
        config: a `config.cifar.CIFARSearchConfig`.
        reward_data: the held-out `(images uint8 (N, H, W, 3), labels (N,))`.
        mean, std: per-channel statistics of the training split.

    Returns:
        A compiled `CIFARSearch` whose variables are all created.
    """
    keras.utils.set_random_seed(config.seed)
    c, k, s = config.child, config.controller, config.search
    space = cifar_models.space_from_config(config.search_space, c)
    options = cifar_models.options_from_config(space.name, c, jit_compile=s.jit_compile)
    # The shared CNN's batch norms run inside the sampled op (tf.switch_case), where
    # TensorFlow cannot synchronise replicas: each replica normalises by itself.
    with (
        distribute.local_batch_norm(),
        precision.policy_scope(config.mixed_precision_dtype),
    ):  # the child only
        child = cifar_models.build_shared_cnn(space, seed=config.seed + 1, **options)
    trainer = controller_build.build_controller(space, k, seed=config.seed + 2)
    search = CIFARSearch(
        space,
        child,
        trainer,
        reward_data,
        mean,
        std,
        batch_size=c.batch_size,
        eval_batch_size=c.eval_batch_size,
        l2=c.l2,
        aux_weight=c.aux_weight,
        strategy=s.strategy,
        grad_clip=c.grad_clip,
        seed=config.seed + 3,
        arcs_per_step=s.arcs_per_step,
    )
    search.controller_updates = k.train_steps
    optimizer = keras.optimizers.SGD(c.lr_max, momentum=c.momentum, nesterov=True)
    search.compile(optimizer=optimizer, jit_compile=s.jit_compile)
    # Create every variable (both models, both optimizers) so a checkpoint restores them.
    search.child(
        tf.zeros((c.batch_size,) + np.shape(reward_data[0])[1:]), tf.constant(space.random_arc(0))
    )
    search.controller.sample()
    search.optimizer.build(search.child.trainable_variables)
    search.trainer.build()
    search.built = True  # every variable exists (fit under a strategy checks it)
    return search


@cluster.chief_writes
def run_cifar_search(config, train_ds, valid_ds, reward_data, mean, std):
    """Runs (or resumes) a CIFAR-10 search and derives the final architecture.

    Writes into `config.workdir`: `config.json`, `checkpoints/`, `log.jsonl`,
    `tensorboard/`, `history.csv`, `best_architecture.json` (keys `search_space`,
    `space_config`, `fixed_arc`, `arc`, `decoded`, `scores` with validation
    accuracies, `strategy`, ...) and its drawing (`network.png` for macro). Running it
    again on the same directory resumes after the last finished epoch.

    Args:
        config: a `config.cifar.CIFARSearchConfig` with `workdir` set.
        train_ds: `tf.data.Dataset` of augmented `(images, labels)` training minibatches,
            one epoch per pass (known cardinality) unless `search.steps_per_epoch` is set.
        valid_ds: `tf.data.Dataset` of validation minibatches (search-phase accuracy).
        reward_data: the held-out `(images uint8, labels)` rewards are drawn from.
        mean, std: per-channel statistics of the training split.

    Returns:
        The dict written to `best_architecture.json`.
    """
    workdir = runner.prepare_run(config)
    c = config.child
    workdir_lib.write_run_info(
        workdir,
        image_shape=list(np.shape(reward_data[0])[1:]),
        mean=np.asarray(mean).tolist(),
        std=np.asarray(std).tolist(),
    )
    search = build_cifar_search(config, reward_data, mean, std)
    start = time.time()
    runner.fit_search(
        search,
        config,
        train_ds,
        valid_ds,
        callbacks=[CosineRestarts(c.lr_max, c.lr_min, c.lr_t0, c.lr_t_mul)],
        steps_per_epoch=fit_lib.steps_per_epoch(config.search.steps_per_epoch, train_ds),
    )
    ranked = runner.derive_best(
        search,
        config,
        build_search=lambda: build_cifar_search(config, reward_data, mean, std),
        train_ds=train_ds,
    )
    space, best = search.space, ranked[0]["arc"]
    result = records.result_record(
        search, config, ranked, ("accuracy",), fixed_arc=space.format_arc(best)
    )
    records.write_result(workdir, result)
    records.draw_architecture(workdir, space, best)
    logging.info(
        "Search done in %.0f s. Best architecture:\n%s", time.time() - start, result["decoded_text"]
    )
    return result


def describe_cifar_search(config, train_ds, valid_ds, reward_data, mean, std):
    """What `search_cifar10 --dry_run` prints: sizes and estimated wall time; writes nothing.

    Args: as `run_cifar_search` (`config.workdir` may be unset).

    Returns:
        `dry_run.describe_search`'s dict.
    """
    search = build_cifar_search(config, reward_data, mean, std)
    steps = fit_lib.steps_per_epoch(config.search.steps_per_epoch, train_ds)
    return dry_run.describe_search(search, config, train_ds, valid_ds, steps)


def _image_shape(shape):
    """`run_info.json`'s image shape, each size within `search_spaces.limits`."""
    if not isinstance(shape, list) or len(shape) != 3:
        raise ValueError(f"`image_shape` must be [height, width, channels]. Received: {shape!r}")
    bounds = (limits.IMAGE_SIDE, limits.IMAGE_SIDE, limits.IMAGE_CHANNELS)
    return tuple(limits.check_size("image_shape", v, b) for v, b in zip(shape, bounds))


def load_cifar_search(workdir, config, run_info, **kwargs):
    """Rebuilds a CIFAR-10 search from its saved config (no data); `keras_enas.load_search`.

    The reward images are zeros of the saved image shape; the standardisation uses the
    saved training statistics.

    Args:
        workdir: the search's working directory.
        config: its `config.json` as a dict.
        run_info: its `run_info.json` as a dict (`image_shape`, `mean`, `std`).
        **kwargs: none are accepted (a user space's loader takes `model=`).

    Returns:
        `(config, search)`: the `CIFARSearchConfig` and the compiled `CIFARSearch`, its
        variables created (not yet restored).

    Raises:
        ValueError: if `run_info` lacks an entry, or `kwargs` are given.
    """
    if kwargs:
        raise ValueError(f"A CIFAR-10 search takes no extra arguments. Received: {sorted(kwargs)}")
    missing = [k for k in ("image_shape", "mean", "std") if k not in run_info]
    if missing:
        raise ValueError(
            f"{workdir}/run_info.json lacks {missing}; it was written by an older "
            "version: re-run the search once to write it."
        )
    try:
        config = config_base.from_dict(CIFARSearchConfig, config)
        shape = _image_shape(run_info["image_shape"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{workdir}: config.json or run_info.json: {e}") from None
    batch = config.child.batch_size
    images = np.zeros((batch, *shape), np.uint8)
    labels = np.zeros((batch,), np.int32)
    search = build_cifar_search(
        config,
        (images, labels),
        np.asarray(run_info["mean"], np.float32),
        np.asarray(run_info["std"], np.float32),
    )
    return config, search


__all__ = ["build_cifar_search", "describe_cifar_search", "load_cifar_search", "run_cifar_search"]
