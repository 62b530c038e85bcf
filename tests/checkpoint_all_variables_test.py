"""Issue 11 fault 1: a checkpoint holds every variable of every model a run trains."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MEAN, STD, random_images, tiny_search_config
from ptb_test_utils import synthetic_inputs, tiny_config

from keras_enas.config.cifar import CIFARChildConfig
from keras_enas.run import workdir
from keras_enas.search import runner
from keras_enas.tasks.cifar import search as cifar_search
from keras_enas.tasks.ptb import search as ptb_search


def _ptb():
    config = tiny_config()
    inputs = synthetic_inputs(config)
    return ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])


def _cifar(space):
    child = CIFARChildConfig(num_layers=3, filters=4, batch_size=8, eval_batch_size=8)
    config = dataclasses.replace(tiny_search_config(child=child), search_space=space)
    return cifar_search.build_cifar_search(config, random_images(16), MEAN, STD)


def _every_variable(search):
    found = {}
    for v in search.variables + search.optimizer.variables + search.trainer.optimizer.variables:
        found[id(v)] = v
    return list(found.values())


@pytest.mark.faults
@pytest.mark.parametrize("build", ["ptb", "macro", "micro"])
def test_checkpoint_restores_every_variable(tmp_path, build):
    search = _ptb() if build == "ptb" else _cifar(build)
    variables = _every_variable(search)
    bn = [v for v in search.variables if "moving_" in v.path]
    assert build != "macro" or len(bn) > 4  # the shared CNN's BatchNorm statistics
    manager = workdir.checkpoint_manager(str(tmp_path), **runner.search_trackables(search))
    saved = [v.numpy().copy() for v in variables]
    manager.save(checkpoint_number=1)
    for v in variables:  # every variable moves away from its saved value
        v.assign(v.numpy() + np.ones_like(v.numpy()))
    assert workdir.restore_latest(manager)
    restored = [i for i, v in enumerate(variables) if np.array_equal(v.numpy(), saved[i])]
    missing = [variables[i].path for i in range(len(variables)) if i not in set(restored)]
    assert not missing, f"{len(missing)} of {len(variables)} not checkpointed: {missing[:5]}"
    # ...and the checkpoint holds no fewer tensors than there are variables.
    names = [n for n, _ in tf.train.list_variables(manager.latest_checkpoint)]
    stored = [n for n in names if "VARIABLE_VALUE" in n and "save_counter" not in n]
    assert len(stored) >= len(variables)
