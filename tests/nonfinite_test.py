"""Issue 11 fault 2: non-finite losses are skipped, counted, and stop the run with one line;
non-finite weights are never saved; a diverged child's reward is 0; derive never overflows."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config
from ptb_test_utils import synthetic_inputs, tiny_config

from keras_enas import reinforce
from keras_enas.controller import Controller
from keras_enas.run import errors, logs, nonfinite, workdir
from keras_enas.search_spaces import base
from keras_enas.tasks.cifar import search as cifar_search
from keras_enas.tasks.ptb import search as ptb_search

pytestmark = pytest.mark.faults


def test_nonfinite_reward_counts_as_zero_and_the_controller_stays_finite():
    steps = tuple(
        s
        for k in (1, 2)
        for s in (base.InputChoice(f"n{k}", k, True, True, True), base.OpChoice(f"a{k}", "act", 4))
    )
    trainer = reinforce.ControllerTrainer(Controller(steps, 1, hidden_size=8, seed=0))
    for bad in (np.nan, np.inf):
        metrics, _ = trainer.accumulate(lambda arc, bad=bad: tf.constant(bad, tf.float32))
        assert float(metrics["raw_reward"]) == 0.0
    trainer.apply()
    for v in trainer.controller.trainable_variables + [trainer.baseline.variable]:
        assert np.all(np.isfinite(v.numpy())), v.path
    arc, _, _ = trainer.controller.sample()
    assert np.all(arc.numpy() >= 0)


def _ptb_search():
    config = tiny_config()
    inputs = synthetic_inputs(config)
    search = ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    return search, inputs["train_ds"]


def _macro_search():
    config = tiny_search_config()
    search = cifar_search.build_cifar_search(config, random_images(16), MEAN, STD)
    images, labels = random_images(32, seed=3)
    return search, tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8)


def _poisoned(search):
    """Every child loss from now on is NaN (as after a blow-up), gradients too."""
    loss_fn = search.child_loss

    def nan_loss(x, y, arc, training):
        loss, objective = loss_fn(x, y, arc, training)
        return loss * np.nan, objective * np.nan

    search.child_loss = nan_loss


@pytest.mark.parametrize("build", [_ptb_search, _macro_search], ids=["ptb", "macro"])
def test_nonfinite_steps_change_nothing_are_counted_and_stop_the_run(build):
    search, train_ds = build()
    # Every variable but the random generators' states (a skipped step still draws).
    watched = [
        v
        for v in search.child.variables + search.optimizer.variables + search.variables
        if "seed_generator" not in v.path and "nonfinite_steps" not in v.path
    ]
    before = [v.numpy().copy() for v in watched]
    _poisoned(search)
    stop = nonfinite.NonFiniteStop(2, "--search_max_nonfinite_steps", "Lower it. ")
    with pytest.raises(errors.DivergenceError, match="--search_max_nonfinite_steps=2") as info:
        search.fit(train_ds.repeat(), epochs=1, steps_per_epoch=5, callbacks=[stop], verbose=0)
    assert "\n" not in str(info.value)
    assert int(search.nonfinite_steps.numpy()) == 3  # stopped at the third skipped step
    after = [v.numpy() for v in watched]
    changed = [watched[i].path for i, (b, a) in enumerate(zip(before, after)) if (b != a).any()]
    assert not changed  # weights, BatchNorm statistics, optimizer state, carried state


def test_nonfinite_weights_are_never_saved(tmp_path):
    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable([1.0, np.nan])
            self.epochs_done = tf.Variable(0, dtype=tf.int64)

    model = Model()
    manager = workdir.checkpoint_manager(str(tmp_path), model=model)
    manager.saved_variables = [model.w]
    callback = logs.Checkpoint(manager)
    callback.set_model(model)
    with pytest.raises(errors.DivergenceError, match="not finite at the end of epoch 1"):
        callback.on_epoch_end(0)
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())


def test_derive_scores_a_diverged_child_without_overflow():
    search, _ = _ptb_search()
    for v in search.child.trainable_variables:  # logits of ~1e10: loss far above 709
        v.assign(v * 1e4)
    arcs = [search.space.random_arc(i) for i in range(2)]
    scores = search.score_arcs(arcs, "minibatch") + search.score_arcs(arcs, "full")
    for s in scores:
        assert s["reward"] == 0.0 and s["valid_ppl"] == float("inf")


def test_config_has_the_limit_with_help():
    config = tiny_config()
    assert config.search.max_nonfinite_steps == 20
    with pytest.raises(ValueError, match="max_nonfinite_steps"):
        dataclasses.replace(config.search, max_nonfinite_steps=-1)
