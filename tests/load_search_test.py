"""Tests of `keras_enas.load_search`: a search reopened from its workdir, no data, same state."""

import json

import numpy as np
import pytest
from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config
from ptb_test_utils import synthetic_inputs as _synthetic_inputs
from ptb_test_utils import tiny_config as _tiny_config

import keras_enas
from keras_enas.search_spaces import registry
from keras_enas.tasks.cifar import search as run_cifar
from keras_enas.tasks.ptb import search as run_ptb


def _same_variables(a, b):
    assert len(a) == len(b) and a
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_ptb_search_reopens_with_its_weights_and_controller(tmp_path):
    config = _tiny_config(str(tmp_path), num_epochs=1)
    inputs = _synthetic_inputs(config)
    run_ptb.run_ptb_search(config, **inputs)
    trained = run_ptb.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    fresh = [v.numpy() for v in trained.child.trainable_variables]
    search = keras_enas.load_search(str(tmp_path))
    assert search.space.name == "ptb_rnn" and search.config == config
    assert int(search.epochs_done.numpy()) == 1
    assert json.loads((tmp_path / "run_info.json").read_text()) == {"vocab_size": 50}
    # The restored shared weights are the trained ones, not a fresh initialisation.
    assert any(
        not np.array_equal(a, b.numpy()) for a, b in zip(fresh, search.child.trainable_variables)
    )
    again = keras_enas.load_search(tmp_path)
    _same_variables(search.variables, again.variables)
    np.testing.assert_array_equal(search.sample_arc().numpy(), again.sample_arc().numpy())
    assert search.space.validate(search.sample_arc().numpy()).shape == (search.space.arc_length,)


def test_cifar_search_reopens_without_data(tmp_path):
    config = tiny_search_config(str(tmp_path))
    images, labels = random_images(64, seed=6)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    train = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8, True)
    run_cifar.run_cifar_search(config, train, train.take(2), random_images(16), MEAN, STD)
    search = keras_enas.load_search(str(tmp_path))
    assert search.space.name == "macro" and search.config.search_space == "macro"
    assert int(search.epochs_done.numpy()) == 1
    again = keras_enas.load_search(str(tmp_path))
    _same_variables(search.child.variables, again.child.variables)
    _same_variables(search.controller.variables, again.controller.variables)


def test_load_search_errors_and_a_plugged_in_loader(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config.json not found"):
        keras_enas.load_search(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"search_space": "plug_test"}))
    with pytest.raises(ValueError, match=r"`search_space` must be one of"):
        keras_enas.load_search(str(tmp_path))
    seen = {}

    def loader(workdir, config, run_info, **kwargs):
        seen.update(workdir=workdir, config=config, run_info=run_info, **kwargs)
        return config, run_ptb.build_ptb_search(*_build_args())

    spec = registry.SpaceSpec("plug_test", space=lambda: None)
    registry.register_space(spec)
    try:
        with pytest.raises(ValueError, match=r"'plug_test' search space registers no loader"):
            keras_enas.load_search(str(tmp_path))
        registry.register_space(
            registry.SpaceSpec("plug_test", space=lambda: None, loader=loader), overwrite=True
        )
        search = keras_enas.load_search(str(tmp_path), model="my supernet")
        assert seen["model"] == "my supernet" and seen["run_info"] == {}
        assert search.config == {"search_space": "plug_test"}
        with pytest.raises(ValueError, match=r"already registered"):
            registry.register_space(spec)
    finally:
        registry._SPECS.pop("plug_test")  # pylint: disable=protected-access
    with pytest.raises(TypeError, match=r"`spec` must be a SpaceSpec"):
        registry.register_space({"name": "x"})


def _build_args():
    config = _tiny_config()
    inputs = _synthetic_inputs(config)
    return config, inputs["vocab_size"], inputs["reward_batches"]
