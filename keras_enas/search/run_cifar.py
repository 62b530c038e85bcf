"""`run_cifar_search`: a whole CIFAR-10 search (macro, or any registered space) in a workdir."""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_enas import controller as controller_lib
from keras_enas import export
from keras_enas import reinforce
from keras_enas.models import cifar_models
from keras_enas.search import runner
from keras_enas.search.cifar import CIFARSearch
from keras_enas.train.schedules import CosineRestarts


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
    child = cifar_models.build_shared_cnn(space, seed=config.seed + 1, **options)
    policy = controller_lib.Controller(
        space.steps, initial_anchors=space.initial_anchors, sample_order=space.sample_order,
        hidden_size=k.hidden_size,
        temperature=k.temperature or None, tanh_constant=k.tanh_constant or None,
        init_range=k.init_range, seed=config.seed + 2, skip_target=k.skip_target)
    trainer = reinforce.ControllerTrainer(
        policy, learning_rate=k.learning_rate, beta_1=k.adam_beta1, epsilon=k.adam_epsilon,
        baseline_decay=k.baseline_decay, entropy_weight=k.entropy_weight,
        skip_weight=k.skip_weight, num_aggregate=k.num_aggregate)
    search = CIFARSearch(space, child, trainer, reward_data, mean, std,
                         batch_size=c.batch_size, eval_batch_size=c.eval_batch_size, l2=c.l2,
                         aux_weight=c.aux_weight, strategy=s.strategy, grad_clip=c.grad_clip,
                         seed=config.seed + 3)
    search.controller_updates = k.train_steps
    optimizer = keras.optimizers.SGD(c.lr_max, momentum=c.momentum, nesterov=True)
    search.compile(optimizer=optimizer, jit_compile=s.jit_compile)
    # Create every variable (both models, both optimizers) so a checkpoint restores them.
    search.child(tf.zeros((c.batch_size,) + np.shape(reward_data[0])[1:]),
                 tf.constant(space.random_arc(0)))
    search.controller.sample()
    search.optimizer.build(search.child.trainable_variables)
    search.trainer.build()
    return search


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
    search = build_cifar_search(config, reward_data, mean, std)
    start = time.time()
    runner.fit_search(search, config, train_ds, valid_ds,
                      callbacks=[CosineRestarts(c.lr_max, c.lr_min, c.lr_t0, c.lr_t_mul)],
                      steps_per_epoch=runner.steps_per_epoch(config, train_ds))
    ranked = runner.derive_best(search, config)
    space, best = search.space, ranked[0]["arc"]
    result = runner.result_record(search, config, ranked, ("accuracy",),
                                  fixed_arc=space.format_arc(best))
    runner.write_result(workdir, result)
    export.draw_architecture(workdir, space, best)
    logging.info("Search done in %.0f s. Best architecture:\n%s", time.time() - start,
                 result["decoded_text"])
    return result


__all__ = ["build_cifar_search", "run_cifar_search"]
