"""Tests of the CIFAR-10 search: one trace for every arc, real clipping, the accuracy reward."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config

from keras_enas.config.cifar import CIFARChildConfig
from keras_enas.search import derive
from keras_enas.tasks.cifar import search as run_cifar


def _data(count=32, size=8, seed=0):
    return random_images(count, size, seed)


def _batch(images, labels):
    return tf.constant(standardized(images)), tf.constant(labels)


@pytest.mark.parametrize(
    "space_name,weight_sharing,recompute_cells,sep_conv_recompute",
    [
        ("macro", "fine", False, "none"),
        ("micro", "fine", False, "none"),
        ("micro", "coarse", False, "elementwise"),
        ("micro", "coarse", True, "none"),
        ("micro", "coarse", False, "depthwise"),
    ],
)
def test_one_trace_serves_every_arc(
    space_name, weight_sharing, recompute_cells, sep_conv_recompute
):
    child = CIFARChildConfig(
        num_layers=3,
        filters=4,
        batch_size=8,
        eval_batch_size=8,
        op_selection="auto",
        weight_sharing=weight_sharing,
        recompute_cells=recompute_cells,
        sep_conv_recompute=sep_conv_recompute,
    )
    config = dataclasses.replace(tiny_search_config(child=child), search_space=space_name)
    search = run_cifar.build_cifar_search(config, _data(), MEAN, STD)
    if space_name == "micro":  # without XLA, "auto" runs only the sampled ops
        assert search.child.cells[0].op_selection == "switch_case"
        assert search.child.cells[0].weight_sharing == weight_sharing
        assert all(cell.recompute == recompute_cells for cell in search.child.cells)
        assert all(c.sep_conv_recompute == sep_conv_recompute for c in search.child.cells)
    traces = {"child": 0, "controller": 0}

    def child_step(x, y, arc):
        traces["child"] += 1
        return search.child_train_step(x, y, arc)

    def controller_step():
        traces["controller"] += 1
        return search.trainer.accumulate(search.reward)

    child_fn, controller_fn = tf.function(child_step), tf.function(controller_step)
    x, y = _batch(*_data(8, seed=1))
    rng = np.random.default_rng(0)
    child_arcs, controller_arcs = set(), set()
    for _ in range(55):
        arc = search.space.random_arc(rng)
        child_arcs.add(arc.tobytes())
        assert np.isfinite(float(child_fn(x, y, tf.constant(arc))))
        stats, sampled = controller_fn()
        controller_arcs.add(sampled.numpy().tobytes())
        assert 0.0 <= float(stats["raw_reward"]) <= 1.0
        if space_name == "macro":
            assert float(stats["skip_penalty"]) > 0  # the KL skip penalty is on
    assert len(child_arcs) >= 50 and len(controller_arcs) >= 50
    assert traces == {"child": 1, "controller": 1}


def test_child_gradient_is_really_clipped():
    child = CIFARChildConfig(
        num_layers=3, filters=4, batch_size=8, grad_clip=1e-3, momentum=0.0, l2=0.0
    )
    search = run_cifar.build_cifar_search(tiny_search_config(child=child), _data(), MEAN, STD)
    search.optimizer.learning_rate.assign(1.0)  # plain SGD, lr 1: update = -clipped gradient
    x, y = _batch(*_data(8, seed=2))
    arc = tf.constant(search.space.random_arc(3))
    variables = search.child.trainable_variables
    with tf.GradientTape() as tape:
        _, objective = search.child_loss(x, y, arc, training=True)
    raw = tf.linalg.global_norm([g for g in tape.gradient(objective, variables) if g is not None])
    assert float(raw) > 100 * 1e-3
    before = [v.numpy() for v in variables]
    search.child_train_step(x, y, arc)
    update = np.sqrt(sum(np.sum((b - v.numpy()) ** 2) for b, v in zip(before, variables)))
    assert update == pytest.approx(1e-3, rel=1e-3)
    # Without momentum, the ops the arc did not sample do not move at all.
    after = {id(v): v.numpy() for v in variables}
    before = {id(v): b for v, b in zip(variables, before)}
    ops = arc.numpy()[search.space.token_layout()["op_positions"]]
    for k, op in enumerate(ops):
        for other in set(range(6)) - {op}:
            for w in search.child.op_weights(k, other):
                np.testing.assert_array_equal(after[id(w)], before[id(w)])


def test_reward_is_the_accuracy_on_one_validation_minibatch():
    images, labels = _data(8, seed=4)  # exactly one minibatch: the draw is a permutation
    search = run_cifar.build_cifar_search(tiny_search_config(), (images, labels), MEAN, STD)
    arc = tf.constant(search.space.random_arc(5))
    x, _ = _batch(images, labels)
    logits, _ = search.child(x, arc, training=False)
    expected = np.mean(np.argmax(logits.numpy(), axis=-1) == labels)
    assert float(tf.function(search.reward)(arc)) == pytest.approx(expected)
    scores = search.score_arcs([arc.numpy()], "full")
    assert scores == [{"accuracy": pytest.approx(expected), "reward": pytest.approx(expected)}]
    ranked = derive.derive(search, num_samples=4)
    assert [r["accuracy"] for r in ranked] == sorted((r["accuracy"] for r in ranked), reverse=True)


def test_macro_search_refuses_coarse_weight_sharing():
    child = CIFARChildConfig(num_layers=3, filters=4, weight_sharing="coarse")
    config = dataclasses.replace(tiny_search_config(child=child), search_space="macro")
    with pytest.raises(ValueError, match="per \\(layer, op\\) only.*weight_sharing='coarse'"):
        run_cifar.build_cifar_search(config, _data(), MEAN, STD)


def test_compiled_steps_release_the_heap_after_compiling():
    from keras_enas.run import malloc

    config = tiny_search_config(child=CIFARChildConfig(num_layers=3, filters=4, batch_size=8))
    search = run_cifar.build_cifar_search(config, _data(), MEAN, STD)
    search.make_train_function()
    compiled = [search.train_function, *search.step_functions().values()]
    assert all(isinstance(f, malloc._ReleasedAfterCompile) for f in compiled)


@pytest.mark.parametrize(
    "option",
    [
        ("recompute_cells", True),
        ("sep_conv_recompute", "elementwise"),
        ("sep_conv_recompute", "depthwise"),
    ],
)
def test_macro_search_refuses_recomputation(option):
    child = CIFARChildConfig(num_layers=3, filters=4, **dict([option]))
    config = dataclasses.replace(tiny_search_config(child=child), search_space="macro")
    flag, value = option
    with pytest.raises(ValueError, match=f"--child_{flag}.*micro search only.*{flag}='?{value}"):
        run_cifar.build_cifar_search(config, _data(), MEAN, STD)


def test_reward_data_smaller_than_a_minibatch_is_refused():
    with pytest.raises(ValueError, match=r"holds 4 images, fewer than batch_size=8"):
        run_cifar.build_cifar_search(tiny_search_config(), _data(4), MEAN, STD)
