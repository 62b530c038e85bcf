"""Tests for keras_enas.search_spaces.micro and the search-space registry."""

import json

import numpy as np
import pytest

from keras_enas import search_spaces
from keras_enas.search_spaces import base, micro

# scripts/cifar10_micro_final.sh: normal cell arc, then reduce cell arc.
MICRO_FINAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
# enas-reference.md §2(c) table, by hand: node = op(input) + op(input).
NORMAL_TABLE = (
    "avgpool3(0) + sep3(0)",
    "identity(0) + sep5(0)",
    "identity(0) + sep5(1)",
    "sep3(1) + sep5(0)",
    "avgpool3(0) + sep5(1)",
)
REDUCE_TABLE = (
    "sep3(1) + sep3(1)",
    "maxpool3(0) + avgpool3(0)",
    "sep5(1) + sep5(3)",
    "sep3(1) + identity(0)",
    "maxpool3(0) + sep5(1)",
)


def _cell_from_table(rows):
    nodes = []
    for row in rows:
        pair = []
        for term in row.split(" + "):
            op, inp = term.rstrip(")").split("(")
            pair.append((int(inp), op))
        nodes.append(tuple(pair))
    return micro.Cell(tuple(nodes))


def test_published_final_arc_decodes_to_reference_table():
    space = micro.MicroSpace(num_nodes=5)
    cells = space.decode(space.parse(MICRO_FINAL))
    assert cells.normal == _cell_from_table(NORMAL_TABLE)
    assert cells.reduce == _cell_from_table(REDUCE_TABLE)
    assert cells.normal.loose_ends == (2, 3, 4, 5, 6)  # concat: 5·F channels
    assert cells.reduce.loose_ends == (2, 4, 5, 6)  # concat: 4·F channels
    lines = str(cells).splitlines()
    assert [line.split(None, 1)[1] for line in lines[1:6]] == list(NORMAL_TABLE)
    assert [line.split(None, 1)[1] for line in lines[8:13]] == list(REDUCE_TABLE)
    assert lines[13].split() == ["out", "concat(2,", "4,", "5,", "6)"]


def test_round_trip_and_json():
    space = micro.MicroSpace()
    cells = micro.MicroCells(_cell_from_table(NORMAL_TABLE), _cell_from_table(REDUCE_TABLE))
    assert space.format_arc(space.encode(cells)) == MICRO_FINAL
    data = json.loads(json.dumps(cells.to_dict()))
    assert data["reduce"]["nodes"][2] == {
        "node": 4,
        "x": {"input": 1, "op": "sep5"},
        "y": {"input": 3, "op": "sep5"},
    }
    assert data["reduce"]["loose_ends"] == [2, 4, 5, 6]


def test_unused_cell_inputs_are_loose_ends():
    cell = micro.Cell((((1, "sep3"), (1, "identity")), ((2, "sep5"), (1, "maxpool3"))))
    assert cell.loose_ends == (0, 3)


def test_sample_order_reorders_sampled_tokens_into_the_stored_arc():
    space = micro.MicroSpace(num_nodes=2)
    steps = [s for s in space.steps for _ in range(s.num_tokens)]  # sampling order
    arc = space.parse("0 1 1 2 2 3 0 4 1 0 0 1 0 2 2 3")
    sampled = arc[space.sample_order]
    # Sampled per node: x_id, y_id, x_op, y_op.
    np.testing.assert_array_equal(sampled[:4], [0, 1, 1, 2])
    np.testing.assert_array_equal(sampled[:8][4:], [2, 0, 3, 4])
    assert [s.name for s in steps[:4]] == [
        "normal_node2_x",
        "normal_node2_y",
        "normal_node2_x_op",
        "normal_node2_y_op",
    ]
    stored = np.empty_like(sampled)
    stored[space.sample_order] = sampled
    np.testing.assert_array_equal(stored, arc)
    np.testing.assert_array_equal(sampled[space.sample_order], arc)
    for i, step in enumerate(steps):  # each stored token has the range of its step
        position = space.sample_order[i]
        count = step.num_ops if isinstance(step, base.OpChoice) else step.num_anchors
        assert space.num_choices[position] == count


def test_schema():
    space = micro.MicroSpace(num_nodes=5)
    assert space.arc_length == 40 == base.arc_length(space.steps)
    assert len(space.steps) == 2 * (2 + 5 * 5)
    # Each cell ends with its own 2 input anchors + 5 node anchors.
    assert base.validate_steps(space.steps, space.initial_anchors) == 7
    reduce_start = space.steps[27]
    assert reduce_start == base.AnchorStep(
        "reduce_input0", zero_anchor=True, reset_input=True, reset_anchors=True
    )
    ops = [s for s in space.steps if isinstance(s, base.OpChoice)]
    assert len(ops) == 20 and {s.vocab for s in ops} == {"micro_op"}
    assert all(s.tanh_constant_scale == pytest.approx(0.4) for s in ops)
    assert all(s.bias_init == (10, 10, 0, 0, 0) for s in ops)
    assert [s.fixed_bias is not None for s in ops] == [True] * 10 + [False] * 10
    inputs = [s for s in space.steps if isinstance(s, base.InputChoice)]
    assert [s.num_anchors for s in inputs[:10]] == [2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert not any(s.register_anchor or s.recency_bias for s in inputs)


def test_reduce_cell_needs_the_anchor_reset():
    steps = list(micro.MicroSpace(num_nodes=2).steps)
    # With the reset, only the reduce cell's own 2 + 2 anchors exist at the end;
    # without it the reduce cell's choices would index into the normal cell's anchors.
    assert base.validate_steps(steps) == 4
    steps[len(steps) // 2] = base.AnchorStep("reduce_input0", zero_anchor=True)
    assert base.validate_steps(steps) == 8


def test_token_layout():
    space = micro.MicroSpace(num_nodes=5)
    layout = space.token_layout()
    arc = space.parse(MICRO_FINAL)
    cells = space.decode(arc)
    for c, cell in enumerate((cells.normal, cells.reduce)):
        for b, node in enumerate(cell.nodes):
            for i, (inp, op) in enumerate(node):
                assert arc[layout["input_positions"][c, b, i]] == inp
                assert micro.MICRO_OPS[arc[layout["op_positions"][c, b, i]]] == op


def test_random_arcs():
    space = micro.MicroSpace(num_nodes=5)
    rng = np.random.default_rng(2)
    arcs = np.stack([space.random_arc(rng) for _ in range(300)])
    for arc in arcs:
        np.testing.assert_array_equal(space.encode(space.decode(arc)), arc)
    for position, count in enumerate(space.num_choices):
        assert set(arcs[:, position]) == set(range(count))


def test_errors():
    with pytest.raises(ValueError, match=r"`num_nodes` must be >= 1\. Received: num_nodes=0"):
        micro.MicroSpace(num_nodes=0)
    with pytest.raises(TypeError, match=r"`num_nodes` must be an int\. Received: num_nodes=None"):
        micro.MicroSpace(num_nodes=None)
    space = micro.MicroSpace()
    bad = MICRO_FINAL.split()
    bad[6] = "5"
    with pytest.raises(
        ValueError,
        match=r"Invalid micro arc: token 6 \(normal node 3 y\) "
        r"is 5; expected an integer in \[0, 2\]\.",
    ):
        space.parse(" ".join(bad))
    bad[6], bad[21] = "0", "5"
    with pytest.raises(
        ValueError,
        match=r"Invalid micro arc: token 21 \(reduce node 2 x op\)"
        r" is 5; expected an integer in \[0, 4\]\.",
    ):
        space.parse(" ".join(bad))
    with pytest.raises(
        ValueError,
        match=r"expected 40 tokens for MicroSpace\(num_nodes=5\); "
        r"received 20\.",
    ):
        space.parse(MICRO_FINAL[:40])
    with pytest.raises(TypeError, match=r"`cells` must be a MicroCells\. Received: Cell"):
        space.encode(_cell_from_table(NORMAL_TABLE))
    small = micro.MicroCells(_cell_from_table(NORMAL_TABLE[:1]), _cell_from_table(REDUCE_TABLE))
    with pytest.raises(
        ValueError,
        match=r"The normal cell has 1 nodes but this space has "
        r"num_nodes=5\.",
    ):
        space.encode(small)
    with pytest.raises(
        ValueError,
        match=r"Node 2 inputs must be integers in \[0, 1\]\. "
        r"Received: 2",
    ):
        micro.Cell((((2, "sep3"), (0, "sep3")),))
    with pytest.raises(ValueError, match=r"Node 2 ops must be in .*Received: 'conv3'"):
        micro.Cell((((0, "conv3"), (0, "sep3")),))
    with pytest.raises(
        ValueError,
        match=r"Node 2 must have exactly 2 \(input, op\) pairs\. "
        r"Received: 1",
    ):
        micro.Cell((((0, "sep3"),),))


def test_registry():
    assert search_spaces.get_space("ptb_rnn", num_nodes=9).arc_length == 16
    assert search_spaces.get_space("macro", num_layers=24).arc_length == 300
    assert search_spaces.get_space("micro").arc_length == 40
    for name in ("ptb_rnn", "macro", "micro"):
        assert search_spaces.get_space(name).name == name
    with pytest.raises(
        ValueError,
        match=r"`name` must be one of \['macro', 'micro', "
        r"'ptb_rnn', 'user'\]\. Received: name='nasnet'",
    ):
        search_spaces.get_space("nasnet")
