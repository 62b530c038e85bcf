"""Tests for keras_enas.models.shared_micro: one trace for every arc, shapes, aux head, XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.models.shared_micro import SharedMicroCNN, pool_layers
from keras_enas.search_spaces.macro import MacroSpace
from keras_enas.search_spaces.micro import MicroSpace

SPACE = MicroSpace(num_nodes=5)


def _batch(seed=0, batch=4, size=8):
    rng = np.random.default_rng(seed)
    return (
        tf.constant(rng.normal(size=(batch, size, size, 3)), tf.float32),
        tf.constant(rng.integers(0, 10, batch), tf.int32),
    )


def _train_step(model, optimizer, traces):
    @tf.function
    def step(x, y, arc):
        traces.append(1)  # runs once per trace
        with tf.GradientTape() as tape:
            logits, aux_logits = model(x, arc, training=True)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            )
            aux = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, aux_logits, from_logits=True)
            )
            objective = loss + 0.4 * aux
        grads = tape.gradient(objective, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def test_one_trace_serves_fifty_arcs_and_trains_aux_head():
    model = SharedMicroCNN(SPACE, num_layers=3, filters=4, seed=0)
    x, y = _batch(batch=2)
    model(x, SPACE.random_arc(0))
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    optimizer.build(model.trainable_variables)
    aux_before = [w.numpy() for w in model.aux_head.trainable_weights]
    traces, arcs, losses = [], set(), []
    step = _train_step(model, optimizer, traces)
    rng = np.random.default_rng(1)
    for _ in range(50):
        arc = SPACE.random_arc(rng)
        arcs.add(SPACE.format_arc(arc))
        losses.append(float(step(x, y, tf.constant(arc))))
    assert len(arcs) == 50 and len(traces) == 1
    assert np.all(np.isfinite(losses))
    aux_after = [w.numpy() for w in model.aux_head.trainable_weights]
    assert len(aux_before) == 7  # proj conv + BN, pool conv + BN, FC
    assert all(not np.allclose(a, b) for a, b in zip(aux_before, aux_after))


def _called_functions(graph_def, fragment):
    """Names of the functions whose name holds `fragment` that the step's graph calls."""
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return {
        n.attr["f"].func.name
        for n in nodes
        if n.op in ("PartitionedCall", "StatefulPartitionedCall")
        and fragment in n.attr["f"].func.name
    }


def test_switch_case_cells_of_every_stage_share_one_trace():
    """Normal and reduction cells at 3 sizes and widths run ONE traced cell function.

    Coarse sharing only (fine runs the same function; both granularities' one-trace
    steps are tested in search_cifar_test.py), to keep the suite short.
    """
    model = SharedMicroCNN(
        SPACE, num_layers=3, filters=2, op_selection="switch_case", weight_sharing="coarse"
    )
    x, y = _batch(batch=2)
    model(x, SPACE.random_arc(0))
    optimizer = keras.optimizers.SGD(0.05)
    optimizer.build(model.trainable_variables)
    traces = []
    step = _train_step(model, optimizer, traces)
    rng = np.random.default_rng(2)
    losses = [float(step(x, y, tf.constant(SPACE.random_arc(rng)))) for _ in range(3)]
    assert len(traces) == 1 and np.all(np.isfinite(losses))
    graph = step.get_concrete_function(x, y, tf.constant(SPACE.random_arc(0))).graph
    assert len({c.cell_index for c in model.cells}) == 2  # normal and reduction cells
    assert len({c.filters for c in model.cells}) == 3  # widths 2, 4, 8
    forward = [
        name
        for name in _called_functions(graph.as_graph_def(), "switch_case_cell")
        if "gradient" not in name.lower() and "backward" not in name.lower()
    ]
    assert len(forward) == 1, forward


def test_reduction_cells_halve_the_size_and_double_the_width():
    model = SharedMicroCNN(SPACE, num_layers=6, filters=4, use_aux_head=False)
    outputs, aux_logits = model.cell_outputs(_batch(size=16)[0], SPACE.random_arc(2))
    assert aux_logits is None
    assert model.pool_layers == pool_layers(6) == [2, 5]
    assert [tuple(o.shape[1:]) for o in outputs] == (
        [(16, 16, 4)] * 2 + [(8, 8, 8)] * 3 + [(4, 4, 16)] * 3
    )
    logits, aux_logits = model(_batch(size=16)[0], SPACE.random_arc(3))
    assert logits.shape == (4, 10) and aux_logits is None


def test_batch_norm_uses_batch_statistics_in_evaluation():
    model = SharedMicroCNN(SPACE, num_layers=3, filters=4, dropout=0.0)
    x, _ = _batch(3)
    arc = SPACE.random_arc(4)
    alone = model(x[:2], arc)[0].numpy()
    together = model(tf.concat([x[:2], x[2:] * 5.0], axis=0), arc)[0].numpy()[:2]
    assert not np.allclose(alone, together, atol=1e-4)  # batch-mates change the stats
    np.testing.assert_allclose(model(x[:2], arc)[0].numpy(), alone, rtol=1e-5)


def test_forward_compiles_under_xla_and_matches_graph_mode():
    space = MicroSpace(num_nodes=1)  # a small graph: XLA compiles it in seconds
    model = SharedMicroCNN(space, num_layers=3, filters=4, dropout=0.0)
    x, _ = _batch(5)
    xla = tf.function(lambda x, arc: model(x, arc)[0], jit_compile=True)
    for seed in range(2):
        arc = tf.constant(space.random_arc(seed))
        np.testing.assert_allclose(
            xla(x, arc).numpy(), model(x, arc)[0].numpy(), rtol=1e-3, atol=1e-4
        )


def test_config_round_trip():
    model = SharedMicroCNN(
        SPACE,
        num_layers=3,
        filters=4,
        dropout=0.2,
        use_aux_head=False,
        op_selection="switch_case",
        seed=3,
    )
    config = model.get_config()
    assert SharedMicroCNN.from_config(config).get_config() == config
    assert config["op_selection"] == "switch_case" and config["space"] == {"num_nodes": 5}


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="MicroSpace"):
        SharedMicroCNN(MacroSpace(num_layers=3))
    with pytest.raises(ValueError, match="num_layers"):
        SharedMicroCNN(SPACE, num_layers=2)
    with pytest.raises(TypeError, match="filters"):
        SharedMicroCNN(SPACE, filters=4.0)
    with pytest.raises(ValueError, match="dropout"):
        SharedMicroCNN(SPACE, dropout=1.0)
