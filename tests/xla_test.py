"""XLA, checked: each space's child and controller steps, compiled with `jit_compile=True`.

For the PTB, macro, micro and user spaces, the search's own compiled steps
(`ENASSearch.step_functions`, what `fit` and the controller phase run) give the same
loss, updated weights and REINFORCE gradients under XLA as in graph mode, from the
same weights, batch and arc; and one trace (so one XLA compilation: the shapes are
fixed) serves every arc. Dropout is off: XLA draws other random numbers than the CPU
kernels for the same seed, so sampled arcs differ too, and the controller step is
compared on a given (teacher-forced) arc.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config
from ptb_test_utils import synthetic_inputs, tiny_config

import keras_enas as ke
from keras_enas.search_spaces.micro import MicroSpace
from keras_enas.tasks.cifar import search as cifar_search
from keras_enas.tasks.ptb import search as ptb_search

# XLA fuses and reorders float32 arithmetic: the loss and the controller's figures agree
# to 1e-5 relative; each updated weight tensor to 1e-4 of its largest entry; the
# controller's gradient to 1e-4 of its global norm.
LOSS_RTOL, TENSOR_RTOL = 1e-5, 1e-4
NUM_ARCS = 3


def _ptb(jit, monkeypatch):
    del monkeypatch
    config = tiny_config(jit_compile=jit)
    child = dataclasses.replace(
        config.child, drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0
    )
    config = dataclasses.replace(config, child=child)
    inputs = synthetic_inputs(config)
    # One reward minibatch: the reward does not depend on the (XLA) random index.
    reward = tuple(b[:1] for b in inputs["reward_batches"])
    search = ptb_search.build_ptb_search(config, inputs["vocab_size"], reward)
    return search, next(iter(inputs["train_ds"]))


def _cifar(space, jit, monkeypatch):
    if space == "micro":  # 2-node cells instead of 5: a faster compilation, the same layers
        monkeypatch.setattr(
            cifar_search.cifar_models, "space_from_config", lambda *_: MicroSpace(num_nodes=2)
        )
    config = dataclasses.replace(tiny_search_config(jit_compile=jit), search_space=space)
    config = dataclasses.replace(config, child=dataclasses.replace(config.child, dropout=0.0))
    # As many held-out images as a reward minibatch: every reward sees them all.
    images, labels = random_images(8)
    search = cifar_search.build_cifar_search(config, (images, labels), MEAN, STD)
    return search, (tf.constant(standardized(images)), tf.constant(labels))


def _user(jit, monkeypatch):
    del monkeypatch
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h1 = ke.OpChoice(
        [
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.DepthwiseConv2D(3, padding="same"),
            keras.layers.MaxPooling2D(3, 1, padding="same"),
        ],
        name="op",
    )(h)
    h2 = ke.InputChoice(num_chosen=1, name="input")([h, h1])
    h3 = ke.InputChoice(num_chosen=None, reduction="sum", name="skips")([h, h1, h2])
    out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(h3))
    search = ke.ENAS(
        keras.Model(inp, out),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        seed=0,
        jit_compile=jit,
        reward_batch_size=8,
        controller={"hidden_size": 8},
    )
    images, labels = random_images(8)
    batch = (tf.constant(standardized(images)), tf.constant(labels))
    search._set_reward_data(batch)  # what fit(validation_data=...) sets
    return search, batch


BUILDERS = {
    "ptb_rnn": _ptb,
    "macro": lambda jit, mp: _cifar("macro", jit, mp),
    "micro": lambda jit, mp: _cifar("micro", jit, mp),
    "user": _user,
}


def _run(space, jit, monkeypatch):
    """Child steps on NUM_ARCS arcs; controller steps on the same arcs, then sampled ones."""
    search, (x, y) = BUILDERS[space](jit, monkeypatch)
    fns = search.step_functions()
    arcs = [tf.constant(search.space.random_arc(i)) for i in range(NUM_ARCS)]
    assert len({a.numpy().tobytes() for a in arcs}) == NUM_ARCS
    first_loss = float(fns["child_step"](x, y, arcs[0]))
    after_first = [v.numpy() for v in search.child.trainable_variables]
    for arc in arcs[1:]:
        assert np.isfinite(float(fns["child_step"](x, y, arc)))
    stats, arc = fns["accumulate"](arcs[0])
    np.testing.assert_array_equal(arc, arcs[0])
    grads = [a.numpy() for a in search.trainer.accumulators]  # ∇θ of arcs[0] alone
    for arc in arcs[1:]:
        fns["accumulate"](arc)
    for _ in range(2):  # sampling inside the compiled step
        fns["accumulate"]()
    return dict(
        loss=first_loss,
        weights=after_first,
        stats={k: float(v) for k, v in stats.items()},
        grads=grads,
        traces={k: fns[k].experimental_get_tracing_count() for k in ("child_step", "accumulate")},
        jit=search.jit_compile,
    )


def _close(a, b, rtol, atol=1e-7):
    """|a - b| ≤ rtol · max|a| + atol. The absolute floor is for tensors that are still ≈ 0
    after one step (a batch norm's beta moved by ~1e-9): there graph mode and XLA differ by the
    rounding of gradients that cancel, far below float32's resolution of the other weights."""
    return np.abs(a - b).max() <= rtol * np.abs(a).max() + atol


# The CIFAR children's XLA compilations take minutes on 2 shared cores even at 3 layers
# (macro: six ops in a switch_case per layer, batch norms updating inside the branches;
# micro: every op of every node, compute_all).
SPACES = [
    pytest.param(name, marks=pytest.mark.slow) if name in ("macro", "micro") else name
    for name in BUILDERS
]


@pytest.mark.parametrize("space", SPACES)
def test_xla_steps_match_graph_mode_and_trace_once(space, monkeypatch):
    graph = _run(space, False, monkeypatch)
    xla = _run(space, True, monkeypatch)
    assert (graph["jit"], xla["jit"]) == (False, True)
    # One trace each: one compiled program serves every arc (and every sampled arc).
    # (`accumulate` has two signatures: with a given arc, and sampling.)
    assert graph["traces"] == xla["traces"] == {"child_step": 1, "accumulate": 2}
    assert xla["loss"] == pytest.approx(graph["loss"], rel=LOSS_RTOL)
    for a, b in zip(graph["weights"], xla["weights"]):
        assert _close(a, b, TENSOR_RTOL)
    for key in ("log_prob", "entropy", "raw_reward", "skip_penalty"):
        assert xla["stats"][key] == pytest.approx(graph["stats"][key], rel=LOSS_RTOL, abs=1e-7)
    assert any(np.abs(g).max() > 0 for g in graph["grads"])
    g, h = (np.concatenate([v.ravel() for v in run["grads"]]) for run in (graph, xla))
    assert np.linalg.norm(h - g) <= TENSOR_RTOL * np.linalg.norm(g)
