"""Tests for keras_enas.layers.shared_micro_cell and keras_enas.layers.micro_ops."""

import numpy as np
import pytest
import tensorflow as tf

from keras_enas.layers import cell_blocks, micro_ops
from keras_enas.layers.shared_micro_cell import (
    SharedMicroCell,
    combine_gathered_loose_ends,
    combine_loose_ends,
)
from keras_enas.search_spaces.micro import MICRO_OPS, MicroSpace

SPACE = MicroSpace(num_nodes=5)
F = 4


def _inputs(seed=0, batch=3, size=6):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=(batch, size, size, F)), tf.float32) for _ in range(2)]


def _arc(rng, cell_index, ops):
    """A random arc whose `cell_index` half uses exactly `ops` (one per node, slot)."""
    arc = SPACE.random_arc(rng)
    positions = SPACE.token_layout()["op_positions"][cell_index].ravel()
    arc[positions] = ops
    return arc


def _randomize(cell, seed=1):
    """Non-trivial BN γ/β so that every bank's gradient shows up."""
    rng = np.random.default_rng(seed)
    for w in cell.weights:
        w.assign(w.numpy() + 0.3 * rng.normal(size=w.shape).astype(np.float32))


@pytest.mark.parametrize(
    "op_selection,weight_sharing",
    [("compute_all", "fine"), ("switch_case", "fine"), ("switch_case", "coarse")],
)
@pytest.mark.parametrize("cell_index", [0, 1])
def test_only_sampled_ops_and_chosen_input_rows_get_gradient(
    cell_index, op_selection, weight_sharing
):
    rng = np.random.default_rng(cell_index)
    ops = rng.permutation([0, 1, 0, 1, 0, 1, 2, 3, 4, 4])  # both sep ops, pools, identity
    arc = _arc(rng, cell_index, ops)
    cell = SharedMicroCell(
        5, F, SPACE, cell_index=cell_index, op_selection=op_selection, weight_sharing=weight_sharing
    )
    inputs = _inputs()
    cell(inputs, arc)
    _randomize(cell)
    probe = tf.constant(rng.normal(size=(3, 6, 6, F)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(cell(inputs, arc) * probe)
    banks = [w for op in cell.banks for stack in op for w in stack]
    grads = tape.gradient(loss, banks + [cell.combine_kernel])
    assert all(isinstance(g, tf.IndexedSlices) for g in grads[:-1])  # sparse: rows only
    input_ids, op_ids = (t.numpy() for t in cell.decode_arc(arc))
    for i, grad in enumerate(grads[:-1]):
        op = i // 8  # banks[op][stack][tensor]: 2 stacks x 4 tensors per sep op
        expected = {
            cell.row_offsets[j, s] + input_ids[j, s]
            for j in range(5)
            for s in range(2)
            if op_ids[j, s] == op
        }
        dense = tf.convert_to_tensor(grad).numpy().reshape(cell.num_rows, -1)
        nonzero = set(np.flatnonzero(np.abs(dense).sum(axis=1) > 0))
        assert nonzero == expected, banks[i].name
    decoded = SPACE.decode(arc)
    loose = (decoded.normal, decoded.reduce)[cell_index].loose_ends
    combine = np.abs(tf.convert_to_tensor(grads[-1]).numpy()).sum(axis=(1, 2))
    assert set(np.flatnonzero(combine > 0)) == set(loose)


def test_loose_end_masking_equals_concat_of_loose_ends():
    rng = np.random.default_rng(3)
    cell = SharedMicroCell(5, F, SPACE)
    inputs = _inputs(1)
    cell(inputs, SPACE.random_arc(0))
    _randomize(cell, 2)
    seen = set()
    for _ in range(4):
        arc = SPACE.random_arc(rng)
        loose = SPACE.decode(arc).normal.loose_ends
        seen.add(len(loose))
        nodes = cell.node_outputs(inputs, arc)
        np.testing.assert_array_equal(
            cell.loose_end_mask(cell.decode_arc(arc)[0]).numpy(),
            [float(i in loose) for i in range(7)],
        )
        # The original: gather the loose ends, concat, 1x1 conv with the gathered slices.
        concat = tf.nn.relu(tf.concat([nodes[i] for i in loose], axis=-1))
        kernel = tf.reshape(tf.gather(cell.combine_kernel, list(loose)), [1, 1, -1, F])
        norm = cell.combine_norm
        direct = cell_blocks.batch_stat_norm(
            tf.nn.conv2d(concat, kernel, 1, "SAME"), norm.gamma, norm.beta, norm.epsilon
        )
        np.testing.assert_allclose(
            cell.combine(nodes, arc).numpy(), direct.numpy(), rtol=1e-4, atol=1e-4
        )
    assert len(seen) > 1


def test_gathered_loose_ends_equal_the_masked_concat_with_gradients():
    """`switch_case` cells' combine (gather k loose ends) = the static masked concat,
    in value and in the gradients of every node and weight (graph mode), for arcs
    whose loose ends include unread cell inputs."""
    rng = np.random.default_rng(7)
    nodes = [tf.constant(rng.normal(size=(3, 6, 6, F)), tf.float32) for _ in range(7)]
    kernel = tf.constant(rng.normal(size=(7, F, F)), tf.float32)
    gamma = tf.constant(rng.normal(size=(F,)) + 1.0, tf.float32)
    beta = tf.constant(rng.normal(size=(F,)), tf.float32)
    probe = tf.constant(rng.normal(size=(3, 6, 6, F)), tf.float32)

    def loss_and_grads(combine, input_ids):
        with tf.GradientTape() as tape:
            tape.watch([nodes, kernel, gamma, beta])
            out = combine(nodes, input_ids, kernel, gamma, beta, 1e-3)
            loss = tf.reduce_sum(out * probe)
        grads = tape.gradient(loss, [nodes, kernel, gamma, beta])
        return [loss, *(tf.convert_to_tensor(g) for g in tf.nest.flatten(grads))]

    positions = SPACE.token_layout()["input_positions"][0]  # (N, 2)
    chain = SPACE.random_arc(rng)
    chain[positions] = np.arange(1, 6)[:, None]  # node j reads node j + 1: 0 is unread
    seen = set()
    for arc in [chain] + [SPACE.random_arc(rng) for _ in range(5)]:
        input_ids = tf.constant(np.asarray(arc)[positions])
        loose = SPACE.decode(arc).normal.loose_ends
        seen.add(len(loose) > 1 and min(loose) < 2)  # an unread input among several
        masked, gathered = (
            tf.function(loss_and_grads)(combine, input_ids)
            for combine in (combine_loose_ends, combine_gathered_loose_ends)
        )
        for a, b in zip(masked, gathered):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
        for i in set(range(7)) - set(loose):  # nodes some node reads get nothing here
            assert not np.any(gathered[1 + i].numpy())
    assert seen == {True, False}


@pytest.mark.parametrize("weight_sharing", ["fine", "coarse"])
def test_compute_all_equals_switch_case_on_same_weights(weight_sharing):
    """The vectorised path (sep3 as a zero-padded 5x5) computes what `switch_case` runs."""
    rng = np.random.default_rng(4)
    inputs = _inputs(2)
    fast = SharedMicroCell(
        5, F, SPACE, cell_index=1, op_selection="compute_all", weight_sharing=weight_sharing
    )
    switch = SharedMicroCell(
        5, F, SPACE, cell_index=1, op_selection="switch_case", weight_sharing=weight_sharing
    )
    fast(inputs, SPACE.random_arc(0))
    switch(inputs, SPACE.random_arc(0))
    _randomize(fast)
    for w_fast, w_switch in zip(fast.weights, switch.weights):
        w_switch.assign(w_fast)
    probe = tf.constant(rng.normal(size=(3, 6, 6, F)), tf.float32)
    for _ in range(4):
        arc = SPACE.random_arc(rng)
        outs, grads = [], []
        for cell in (fast, switch):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = cell(inputs, arc)
                loss = tf.reduce_sum(out * probe)
            outs.append(out.numpy())
            # Gradients too: of the cell inputs (through the node reads, unread inputs
            # included: zero) and of every weight.
            grads.append(
                [
                    tf.convert_to_tensor(g).numpy()
                    for g in tape.gradient(loss, inputs + cell.weights)
                ]
            )
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-4)
        for g_fast, g_switch in zip(*grads):
            np.testing.assert_allclose(g_fast, g_switch, rtol=1e-3, atol=1e-4)


def _recompute_pair(op_selection, weight_sharing, option=("recompute", True)):
    """Two cells with the same weights: the first keeps every activation, the second
    recomputes some (`option`: a `SharedMicroCell` argument and its value)."""
    kept, recomputed = (
        SharedMicroCell(
            5,
            F,
            SPACE,
            cell_index=1,
            op_selection=op_selection,
            weight_sharing=weight_sharing,
            **options,
        )
        for options in ({"sep_conv_recompute": "none"}, dict([option]))
    )
    inputs = _inputs(5)
    kept(inputs, SPACE.random_arc(0))
    recomputed(inputs, SPACE.random_arc(0))
    _randomize(kept)
    for w_kept, w_recomputed in zip(kept.weights, recomputed.weights):
        w_recomputed.assign(w_kept)
    return kept, recomputed, inputs


def _loss_and_grads(cell, inputs, arc, probe):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(cell(inputs, arc) * probe)
    grads = tape.gradient(loss, inputs + cell.weights)
    return loss, [tf.convert_to_tensor(g) for g in grads]


@pytest.mark.parametrize(
    "option",
    [
        ("recompute", True),
        ("sep_conv_recompute", "elementwise"),
        ("sep_conv_recompute", "depthwise"),
    ],
)
@pytest.mark.parametrize(
    "op_selection,weight_sharing",
    [("compute_all", "fine"), ("switch_case", "fine"), ("switch_case", "coarse")],
)
def test_recompute_gives_the_same_loss_and_gradients(op_selection, weight_sharing, option):
    """Recomputing (cells, or sep convs) changes memory, not the gradients (graph mode)."""
    kept, recomputed, inputs = _recompute_pair(op_selection, weight_sharing, option)
    rng = np.random.default_rng(6)
    probe = tf.constant(rng.normal(size=(3, 6, 6, F)), tf.float32)
    step = tf.function(_loss_and_grads)
    for _ in range(3):
        arc = tf.constant(SPACE.random_arc(rng))
        (loss_k, grads_k), (loss_r, grads_r) = (
            step(cell, inputs, arc, probe) for cell in (kept, recomputed)
        )
        np.testing.assert_allclose(loss_k.numpy(), loss_r.numpy(), rtol=1e-6)
        assert len(grads_k) == len(grads_r) == 2 + len(kept.weights)
        for g_k, g_r in zip(grads_k, grads_r):
            np.testing.assert_allclose(g_k.numpy(), g_r.numpy(), rtol=1e-5, atol=1e-6)


def _forward_runs(graph_def, op_selection):
    """How often the cell's forward pass appears in a step's graph (top level)."""
    if op_selection == "compute_all":  # 5 nodes x 2 stacks of depthwise convs per pass
        return sum(n.op == "DepthwiseConv2dNative" for n in graph_def.node) / 10
    calls = [n for n in graph_def.node if n.op in ("PartitionedCall", "StatefulPartitionedCall")]
    names = [n.attr["f"].func.name for n in calls]  # forward: not the backward function
    return sum("switch_case_cell" in name and "backward" not in name for name in names)


@pytest.mark.parametrize("op_selection", ["compute_all", "switch_case"])
def test_recompute_runs_the_cell_again_in_the_backward_pass(op_selection):
    """Kept: one forward pass; recomputed: a second one, in the gradient."""
    kept, recomputed, inputs = _recompute_pair(op_selection, "fine")
    probe = tf.zeros((3, 6, 6, F))
    arc = tf.constant(SPACE.random_arc(0))
    runs = [
        _forward_runs(
            tf.function(_loss_and_grads)
            .get_concrete_function(cell, inputs, arc, probe)
            .graph.as_graph_def(),
            op_selection,
        )
        for cell in (kept, recomputed)
    ]
    assert runs == [1, 2]


def _kept_activations(x, stacks, recompute):
    """Ops whose `x`-shaped outputs `sep_conv`'s backward pass reads from its forward."""

    def loss_and_grads(x, stacks):
        with tf.GradientTape() as tape:
            tape.watch([x, stacks])
            loss = tf.reduce_sum(micro_ops.sep_conv(x, stacks, recompute) ** 2)
        return tape.gradient(loss, [x, stacks])

    ops = tf.function(loss_and_grads).get_concrete_function(x, stacks).graph.get_operations()
    backward = next(i for i, op in enumerate(ops) if op.name.startswith("gradient_tape/"))
    forward = set(ops[:backward])  # graph ops are listed in creation order
    read = {t.ref() for op in ops[backward:] for t in op.inputs}
    return sorted(
        t.op.type
        for t in (r.deref() for r in read)
        if t.op in forward
        and t.shape == x.shape
        and t.op.type in ("Relu", "DepthwiseConv2dNative", "Conv2D")
    )


def test_recomputed_sep_conv_keeps_fewer_activations_and_gives_the_same_gradients():
    """The registered gradients keep 6 activations per sep conv (2 ReLU, 2 depthwise,
    2 pointwise outputs); "elementwise" keeps the 4 conv outputs, "depthwise" the 2
    pointwise ones; the gradients stay the same."""
    rng = np.random.default_rng(8)
    x = tf.constant(rng.normal(size=(4, 8, 8, F)), tf.float32)
    stacks = [
        tuple(
            tf.constant(a, tf.float32)
            for a in (
                rng.normal(size=(5, 5, F)),
                rng.normal(size=(F, F)),
                rng.normal(size=(F,)) + 1.0,
                rng.normal(size=(F,)),
            )
        )
        for _ in range(2)
    ]
    convs = ["Conv2D"] * 2 + ["DepthwiseConv2dNative"] * 2
    assert _kept_activations(x, stacks, "none") == convs + ["Relu"] * 2
    assert _kept_activations(x, stacks, "elementwise") == convs
    assert _kept_activations(x, stacks, "depthwise") == ["Conv2D"] * 2
    probe = tf.constant(rng.normal(size=(4, 8, 8, F)), tf.float32)

    @tf.function
    def grads(recompute):
        with tf.GradientTape() as tape:
            tape.watch([x, stacks])
            loss = tf.reduce_sum(micro_ops.sep_conv(x, stacks, recompute) * probe)
        return [loss, *tf.nest.flatten(tape.gradient(loss, [x, stacks]))]

    for recompute in ("elementwise", "depthwise"):
        for kept, recomputed in zip(grads("none"), grads(recompute)):
            np.testing.assert_allclose(kept.numpy(), recomputed.numpy(), rtol=1e-5, atol=1e-5)


def test_recomputed_sep_conv_under_mixed_precision():
    """bfloat16 activations and kernels, float32 BN parameters (the mixed policy's
    layout): the recomputing backward passes give the registered gradients."""
    rng = np.random.default_rng(9)
    x = tf.constant(rng.normal(size=(4, 8, 8, F)), tf.bfloat16)
    stacks = [
        (
            tf.constant(rng.normal(size=(5, 5, F)), tf.bfloat16),
            tf.constant(rng.normal(size=(F, F)), tf.bfloat16),
            tf.constant(rng.normal(size=(F,)) + 1.0, tf.float32),
            tf.constant(rng.normal(size=(F,)), tf.float32),
        )
        for _ in range(2)
    ]

    @tf.function
    def grads(recompute):
        with tf.GradientTape() as tape:
            tape.watch([x, stacks])
            out = micro_ops.sep_conv(x, stacks, recompute)
            loss = tf.reduce_sum(tf.cast(out, tf.float32) ** 2)
        flat = tf.nest.flatten(tape.gradient(loss, [x, stacks]))
        return [out, loss, *flat]

    kept = grads("none")
    assert kept[0].dtype == tf.bfloat16
    for recompute in ("elementwise", "depthwise"):
        for a, b in zip(kept, grads(recompute)):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(
                tf.cast(a, tf.float32).numpy(), tf.cast(b, tf.float32).numpy(), rtol=1e-2
            )


def test_each_op_alone_matches_its_definition():
    """Node 2 = op(input 1) + op(input 1) for every op; the cell output is node 2's."""
    inputs = _inputs(3)
    cell = SharedMicroCell(1, F, MicroSpace(num_nodes=1))
    for op in range(len(MICRO_OPS)):
        arc = np.array([1, op, 1, op, 0, 0, 0, 0], np.int32)
        node = cell.node_outputs(inputs, arc)[2]
        x = inputs[1]
        if op == 2:
            expected = 2 * tf.nn.avg_pool2d(x, 3, 1, "SAME")
        elif op == 3:
            expected = 2 * tf.nn.max_pool2d(x, 3, 1, "SAME")
        elif op == 4:
            expected = 2 * x
        else:  # fresh weights: gamma = 1, beta = 0 -> each sep output has zero batch mean
            expected = None
            np.testing.assert_allclose(tf.reduce_mean(node, axis=[0, 1, 2]).numpy(), 0, atol=1e-4)
        if expected is not None:
            np.testing.assert_allclose(node.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="op_selection"):
        SharedMicroCell(5, F, SPACE, op_selection="all")
    with pytest.raises(ValueError, match="weight_sharing='slot'"):
        SharedMicroCell(5, F, SPACE, weight_sharing="slot")
    with pytest.raises(ValueError, match="cell_index"):
        SharedMicroCell(5, F, SPACE, cell_index=2)
    with pytest.raises(ValueError, match="sep_conv_recompute='pointwise'"):
        SharedMicroCell(5, F, SPACE, sep_conv_recompute="pointwise")
    with pytest.raises(ValueError, match="does not describe 3-node"):
        SharedMicroCell(3, F, SPACE)
    with pytest.raises(TypeError, match="token_layout"):
        SharedMicroCell(5, F, {"input_positions": []})


def test_coarse_sharing_gives_both_slots_of_a_node_the_same_rows():
    """Per (node, input): half the rows, and x and y reading one input use the same weights."""
    fine = SharedMicroCell(5, F, SPACE)
    coarse = SharedMicroCell(5, F, SPACE, weight_sharing="coarse")
    assert (fine.num_rows, coarse.num_rows) == (40, 20)
    np.testing.assert_array_equal(coarse.row_offsets[:, 0], coarse.row_offsets[:, 1])
    # Node 2 reads input 1 in both slots with sep3: with coarse sharing, twice one op.
    cell = SharedMicroCell(1, F, MicroSpace(num_nodes=1), weight_sharing="coarse")
    inputs = _inputs(5)
    arc = np.array([1, 0, 1, 0, 0, 0, 0, 0], np.int32)
    cell(inputs, arc)
    _randomize(cell, 3)
    node = cell.node_outputs(inputs, arc)[2]
    sep3, _ = cell.gather_sep_weights(tf.constant([[1, 1]], tf.int32))  # (1, 2, ...) rows
    single = micro_ops.sep_conv(inputs[1], [tuple(t[0, 0] for t in stack) for stack in sep3])
    np.testing.assert_allclose(node.numpy(), 2 * single.numpy(), rtol=1e-4, atol=1e-4)
