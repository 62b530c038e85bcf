"""End-to-end test of `run_cifar_search` on synthetic data: random search, result, resume check."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config

from keras_enas.run import workdir
from keras_enas.tasks.cifar import search as run_cifar


def _datasets(config):
    images, labels = random_images(64, seed=6)
    train = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8, True)
    return dict(
        train_ds=train, valid_ds=train.take(2), reward_data=random_images(16), mean=MEAN, std=STD
    )


def test_random_strategy_writes_a_result_and_never_trains_the_controller(tmp_path):
    config = tiny_search_config(str(tmp_path), strategy="random")
    initial = run_cifar.build_cifar_search(config, random_images(16), MEAN, STD)
    before = [v.numpy() for v in initial.controller.trainable_variables]
    result = run_cifar.run_cifar_search(config, **_datasets(config))
    best = json.load(open(tmp_path / "best_architecture.json"))
    assert best["strategy"] == "random" == result["strategy"]
    assert best["search_space"] == "macro" and best["space_config"] == {"num_layers": 3}
    assert best["fixed_arc"] == best["arc"] and len(best["arc"].split()) == 6
    assert len(best["decoded"]["layers"]) == 3
    assert all(0 <= s["accuracy"] <= 1 for s in best["scores"])
    assert (tmp_path / "network.png").exists()
    resumed = run_cifar.build_cifar_search(config, random_images(16), MEAN, STD)
    manager = workdir.checkpoint_manager(
        str(tmp_path), search=resumed, child_optimizer=resumed.optimizer, trainer=resumed.trainer
    )
    assert workdir.restore_latest(manager)
    for b, a in zip(before, resumed.controller.trainable_variables):
        np.testing.assert_array_equal(b, a.numpy())
    other = dataclasses.replace(config, seed=2)
    with pytest.raises(ValueError, match=r"different config \(differs in: seed\)"):
        run_cifar.run_cifar_search(other, **_datasets(other))
