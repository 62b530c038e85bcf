"""Tests of the shared macro network: only the sampled op runs and learns, skip sums, shapes."""

import gc

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.layers.shared_macro_layer import SharedMacroLayer
from keras_enas.models.shared_macro import SharedMacroCNN
from keras_enas.search_spaces.macro import MACRO_OPS, MacroSpace


def _images(batch=4, size=8, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(batch, size, size, 3)), tf.float32)


def _model(num_layers=4, filters=4, size=8):
    keras.utils.set_random_seed(0)
    space = MacroSpace(num_layers)
    model = SharedMacroCNN(space, filters=filters, seed=0)
    model(_images(size=size), tf.constant(space.random_arc(0)))
    return space, model


def test_each_op_id_runs_its_own_branch():
    layer = SharedMacroLayer(4)
    x = _images(size=6)[..., :3]
    x = tf.concat([x, x[..., :1]], axis=-1)  # (B, 6, 6, 4)
    layer(x, tf.constant(0))
    run = tf.function(lambda x, op: layer(x, op, training=False))
    outputs = [run(x, tf.constant(i)).numpy() for i in range(len(MACRO_OPS))]
    for i, out in enumerate(outputs):
        np.testing.assert_allclose(out, layer._run(i, x, False).numpy(), atol=1e-5)
        assert out.shape == (4, 6, 6, 4)
    # Six different functions: no late-binding closure returns the last branch for all.
    for i in range(len(MACRO_OPS)):
        for j in range(i):
            assert not np.allclose(outputs[i], outputs[j]), (MACRO_OPS[i], MACRO_OPS[j])


def test_traced_layer_trains_as_the_keras_layers_do():
    """Training: the traced function's output and moving averages are the Keras layers'."""
    layer = SharedMacroLayer(4)
    x = tf.concat([_images(size=6), _images(size=6, seed=1)[..., :1]], axis=-1)
    layer(x, tf.constant(0))
    averages = layer.non_trainable_weights
    for op in range(len(MACRO_OPS)):
        start = [v.numpy() for v in averages]
        out = layer(x, tf.constant(op), training=True).numpy()
        traced = [v.numpy() for v in averages]
        for v, value in zip(averages, start):
            v.assign(value)
        np.testing.assert_allclose(out, layer._run(op, x, True).numpy(), atol=1e-5)
        for a, b in zip(traced, averages):
            np.testing.assert_allclose(a, b.numpy(), atol=1e-6)
        moved = sum(not np.array_equal(a, b) for a, b in zip(start, traced))
        assert moved == (2 if MACRO_OPS[op].endswith("pool3") else 4), MACRO_OPS[op]


def test_the_shared_function_outlives_the_layer_it_was_traced_for():
    """The cached function keeps no reference to the first layer's variables."""
    x = tf.concat([_images(size=6), _images(size=6, seed=1)[..., :1]], axis=-1)
    first = SharedMacroLayer(4)
    first(x, tf.constant(0), training=True)
    del first
    gc.collect()
    second = SharedMacroLayer(4)
    second(x, tf.constant(0))
    out = tf.function(lambda x, op: second(x, op, training=True))(x, tf.constant(3))
    assert np.all(np.isfinite(out.numpy()))
    assert not np.array_equal(second.branches[3][1].moving_mean.numpy(), np.zeros(4))


def test_layer_rejects_bad_filters():
    with pytest.raises(ValueError, match=r"`filters` must be an int >= 1. Received: filters=0"):
        SharedMacroLayer(0)
    with pytest.raises(TypeError, match=r"`space` must be a MacroSpace"):
        SharedMacroCNN(object())
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\)"):
        SharedMacroCNN(MacroSpace(3), dropout=1.0)


def _moving_means(model):
    """{(layer, op id): concatenated moving means of that op's batch norms}."""
    return {
        (k, i): np.concatenate(
            [
                bn.moving_mean.numpy()
                for bn in branch
                if isinstance(bn, keras.layers.BatchNormalization)
            ]
        )
        for k, layer in enumerate(model.op_layers)
        for i, branch in enumerate(layer.branches)
    }


@pytest.fixture(scope="module")
def sampled_step():
    """One compiled training forward + gradient of CE + L2 on the arc sep3, maxpool3, conv5."""
    space, model = _model(num_layers=3)
    arc = space.parse("1 5 0 2 1 0")
    labels = tf.constant([0, 1, 2, 3])

    @tf.function
    def gradients(images, labels, arc):
        with tf.GradientTape() as tape:
            logits, _ = model(images, arc, training=True)
            ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            objective = ce + 0.1 * model.l2_penalty(arc)  # L2 must not reach unused ops
        return tape.gradient(objective, model.trainable_variables)

    before = _moving_means(model)
    grads = gradients(_images(), labels, tf.constant(arc))
    graph = gradients.get_concrete_function(_images(), labels, tf.constant(arc)).graph
    return dict(
        graph=graph.as_graph_def(),
        space=space,
        model=model,
        arc=arc,
        before=before,
        after=_moving_means(model),
        grads={id(v): g for v, g in zip(model.trainable_variables, grads)},
    )


def test_a_step_gives_gradient_only_to_the_sampled_ops(sampled_step):
    space, model = sampled_step["space"], sampled_step["model"]
    ops = sampled_step["arc"][space.token_layout()["op_positions"]]
    for k in range(space.num_layers):
        for op in range(len(MACRO_OPS)):
            grads = [sampled_step["grads"][id(w)] for w in model.op_weights(k, op)]
            norms = [0.0 if g is None else float(tf.norm(g)) for g in grads]
            if op == ops[k]:
                assert min(norms) > 0, (k, MACRO_OPS[op])
            else:  # zero from the cross-entropy AND from the L2 term
                assert max(norms) == 0.0, (k, MACRO_OPS[op])


def test_only_the_sampled_ops_batch_norm_averages_move(sampled_step):
    before, after = sampled_step["before"], sampled_step["after"]
    moved = {key for key in before if not np.array_equal(before[key], after[key])}
    assert moved == {(0, 1), (1, 5), (2, 2)}


def test_every_layer_runs_one_traced_function(sampled_step):
    """The 3 layers (three sizes: reductions follow layers 0 and 1) call ONE forward function."""
    graph = sampled_step["graph"]
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    called = [
        n.attr["f"].func.name
        for n in nodes
        if n.op in ("PartitionedCall", "StatefulPartitionedCall")
        and "macro_layer" in n.attr["f"].func.name
    ]
    forward = {name for name in called if "gradient" not in name and "backward" not in name}
    assert len(called) >= 3 and len(forward) == 1, called


@pytest.fixture(scope="module")
def four_layers():
    return _model(num_layers=4)  # pools after layers 0 and 1


@pytest.mark.parametrize("node", [0, 1, 2])
def test_skip_bit_j_adds_node_j(four_layers, node):
    space, model = four_layers
    base = space.parse("0 1 0 2 0 0 3 0 0 0")
    bit = space.token_layout()["skip_positions"][3, node]  # last layer, node j
    with_skip = base.copy()
    with_skip[bit] = 1
    nodes = model.nodes(_images(), tf.constant(base), training=False)
    skipped = model.nodes(_images(), tf.constant(with_skip), training=False)
    # Fresh BN in inference mode is x / sqrt(1 + ε): the difference is node j itself.
    difference = (skipped[-1] - nodes[-1]).numpy() * np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(difference, nodes[node].numpy(), atol=1e-4)
    for earlier in range(len(nodes) - 1):
        np.testing.assert_array_equal(skipped[earlier].numpy(), nodes[earlier].numpy())


def test_factorized_reductions_reduce_every_node_and_keep_the_width():
    space, model = _model(num_layers=6, filters=6, size=16)  # pools after layers 1 and 3
    assert space.pool_layers == (1, 3)
    assert [len(r) for r in model.reductions] == [3, 5]  # stem + o0, o1; stem + o0..o3
    nodes = model.nodes(_images(size=16), tf.constant(space.random_arc(1)))
    assert len(nodes) == 7
    assert {tuple(n.shape) for n in nodes} == {(4, 4, 4, 6)}
    logits, aux = model(_images(size=16), tf.constant(space.random_arc(2)))
    assert logits.shape == (4, 10) and aux is None
