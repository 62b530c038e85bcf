"""Tests for keras_enas.search_spaces.rnn: PTB cell schema, arc formats and RNNCell."""

import json

import numpy as np
import pytest

from keras_enas.search_spaces import base, rnn

# scripts/ptb_final.sh (original format, N = 12) and enas-reference.md §2(a) table.
PTB_FINAL = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
PTB_FINAL_TABLE = (
    (None, "tanh"),
    (0, "tanh"),
    (1, "relu"),
    (2, "relu"),
    (2, "tanh"),
    (2, "tanh"),
    (5, "relu"),
    (1, "tanh"),
    (6, "relu"),
    (8, "relu"),
    (8, "relu"),
    (8, "relu"),
)
# enas_lm README final arc (enas_lm format, 8 decided nodes, N = 9) and its table.
ENAS_LM_FINAL = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
ENAS_LM_TABLE = (
    (None, "tanh"),
    (0, "sigmoid"),
    (1, "tanh"),
    (2, "relu"),
    (2, "sigmoid"),
    (4, "tanh"),
    (5, "tanh"),
    (3, "sigmoid"),
    (6, "sigmoid"),
)
DARTS_ENAS_LM = "0 2 1 1 1 1 1 3 2 0 5 2 3 0 5 1"


def _sampling_steps(space):
    """One entry per arc token: the schema step that samples it."""
    return [s for s in space.steps for _ in range(s.num_tokens)]


def test_ptb_final_decodes_to_reference_table():
    space = rnn.RNNCellSpace(num_nodes=12, arc_format="original")
    cell = space.decode(space.parse(PTB_FINAL))
    assert cell.nodes == PTB_FINAL_TABLE
    # "an average of 6 nodes" (paper); every non-linearity is tanh or ReLU.
    assert cell.loose_ends == (3, 4, 7, 9, 10, 11)
    assert {act for _, act in cell.nodes} == {"tanh", "relu"}


def test_enas_lm_final_decodes_to_reference_table():
    space = rnn.RNNCellSpace(num_nodes=9, arc_format="enas_lm")
    cell = space.decode(space.parse(ENAS_LM_FINAL))
    assert cell.nodes == ENAS_LM_TABLE
    # Node 2 reads node 1, so node 1 is NOT a loose end (enas-reference.md lists
    # {1, 7, 8}, which contradicts its own table); nodes 0..6 are all used.
    assert cell.loose_ends == (7, 8)


def test_original_and_enas_lm_activation_ids_differ():
    original = rnn.RNNCellSpace(num_nodes=2, arc_format="original")
    enas_lm = rnn.RNNCellSpace(num_nodes=2, arc_format="enas_lm")
    assert [original.decode([0, 0, f]).nodes[1][1] for f in range(4)] == [
        "tanh",
        "relu",
        "identity",
        "sigmoid",
    ]
    assert [enas_lm.decode([0, f]).nodes[1][1] for f in range(4)] == [
        "tanh",
        "relu",
        "sigmoid",
        "identity",
    ]
    assert [original.decode([f, 0, 0]).nodes[0][1] for f in range(4)] == [
        "tanh",
        "relu",
        "identity",
        "sigmoid",
    ]


@pytest.mark.parametrize(
    "arc_format,num_nodes,fixed_arc",
    [("original", 12, PTB_FINAL), ("enas_lm", 9, ENAS_LM_FINAL), ("enas_lm", 9, DARTS_ENAS_LM)],
)
def test_round_trips(arc_format, num_nodes, fixed_arc):
    space = rnn.RNNCellSpace(num_nodes, arc_format)
    arc = space.parse(fixed_arc)
    assert arc.dtype == np.int32
    np.testing.assert_array_equal(space.encode(space.decode(arc)), arc)
    assert space.format_arc(arc) == fixed_arc
    other = "enas_lm" if arc_format == "original" else "original"
    converted = space.convert(arc, other)
    assert rnn.RNNCellSpace(num_nodes, other).decode(converted) == space.decode(arc)
    np.testing.assert_array_equal(
        rnn.RNNCellSpace(num_nodes, other).convert(converted, arc_format), arc
    )


def test_convert_ptb_final_to_enas_lm_drops_f0_and_remaps_ids():
    space = rnn.RNNCellSpace(num_nodes=12, arc_format="original")
    converted = space.convert(space.parse(PTB_FINAL), "enas_lm")
    # Only tanh (0) and ReLU (1) occur, whose ids agree; f0 = 0 is dropped.
    assert rnn.RNNCellSpace(12).format_arc(converted) == PTB_FINAL[2:]
    # Node 1 identity (original id 2 → enas_lm 3), node 2 sigmoid (3 → 2).
    small = rnn.RNNCellSpace(num_nodes=3, arc_format="original")
    np.testing.assert_array_equal(small.convert(small.parse("0 0 2 0 3"), "enas_lm"), [0, 3, 0, 2])


def test_convert_rejects_original_arc_whose_node0_is_not_tanh():
    space = rnn.RNNCellSpace(num_nodes=3, arc_format="original")
    with pytest.raises(
        ValueError,
        match=r"Cannot convert this original arc to enas_lm: "
        r"The enas_lm format fixes node 0 to tanh, but this cell's node 0 "
        r"uses sigmoid\.",
    ):
        space.convert([3, 0, 0, 1, 0], "enas_lm")


@pytest.mark.parametrize("arc_format,num_nodes", [("original", 12), ("enas_lm", 10)])
def test_random_arcs_are_valid_and_cover_every_choice(arc_format, num_nodes):
    space = rnn.RNNCellSpace(num_nodes, arc_format)
    rng = np.random.default_rng(0)
    arcs = np.stack([space.random_arc(rng) for _ in range(400)])
    for arc in arcs:
        np.testing.assert_array_equal(space.encode(space.decode(arc)), arc)
    for position, count in enumerate(space.num_choices):
        assert set(arcs[:, position]) == set(range(count))
    np.testing.assert_array_equal(space.random_arc(7), space.random_arc(7))


@pytest.mark.parametrize(
    "arc_format,num_nodes,length,anchors",
    [("original", 12, 23, 0), ("enas_lm", 9, 16, 1), ("enas_lm", 2, 2, 1)],
)
def test_schema_matches_arc_and_layout(arc_format, num_nodes, length, anchors):
    space = rnn.RNNCellSpace(num_nodes, arc_format)
    assert space.arc_length == length == base.arc_length(space.steps)
    assert space.initial_anchors == anchors
    assert base.validate_steps(space.steps, space.initial_anchors) == num_nodes
    layout = space.token_layout()
    steps = _sampling_steps(space)
    assert len(layout["prev_positions"]) == num_nodes - 1
    for k, position in enumerate(layout["prev_positions"], start=1):
        step = steps[position]
        assert isinstance(step, base.InputChoice) and step.name == f"node{k}_input"
        assert step.num_anchors == k and step.register_anchor and step.recency_bias
        assert step.distance_scaled_feedback
    for k, position in enumerate(layout["act_positions"]):
        if position < 0:
            assert k == 0 and arc_format == "enas_lm"
            continue
        assert steps[position] == base.OpChoice(f"node{k}_activation", "rnn_activation", 4)
    covered = sorted(set(layout["prev_positions"]) | set(layout["act_positions"]) - {-1})
    assert covered == list(range(length))


def test_activation_table_maps_format_ids_to_canonical_names():
    for arc_format, spec in rnn.ARC_FORMATS.items():
        table = rnn.RNNCellSpace(3, arc_format).token_layout()["activation_table"]
        assert [rnn.ACTIVATIONS[i] for i in table] == list(spec.activations)
    np.testing.assert_array_equal(
        rnn.RNNCellSpace(3, "enas_lm").token_layout()["activation_table"], [0, 1, 3, 2]
    )


def test_original_schema_starts_with_node0_anchor_and_activation():
    steps = rnn.RNNCellSpace(3, "original").steps
    assert isinstance(steps[0], base.AnchorStep) and steps[0].name == "node0"
    assert steps[1].name == "node0_activation"


def test_cell_printing_and_json():
    space = rnn.RNNCellSpace(num_nodes=12, arc_format="original")
    cell = space.decode(space.parse(PTB_FINAL))
    text = str(cell)
    assert "mean of loose ends (3, 4, 7, 9, 10, 11)" in text
    lines = text.splitlines()
    assert lines[2].split() == ["0", "x_t,", "h_{t-1}", "tanh"]
    assert [line.split() for line in lines[3:]] == [
        [str(k), str(inp), act] for k, (inp, act) in enumerate(PTB_FINAL_TABLE) if k
    ]
    data = json.loads(json.dumps(cell.to_dict()))
    assert data["loose_ends"] == [3, 4, 7, 9, 10, 11]
    assert data["nodes"][6] == {"node": 6, "input": 5, "activation": "relu"}
    rebuilt = rnn.RNNCell(tuple((n["input"], n["activation"]) for n in data["nodes"]))
    assert rebuilt == cell


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"`num_nodes` must be >= 2\. Received: num_nodes=1"):
        rnn.RNNCellSpace(num_nodes=1)
    with pytest.raises(TypeError, match=r"`num_nodes` must be an int\. Received: num_nodes='3'"):
        rnn.RNNCellSpace(num_nodes="3")
    with pytest.raises(
        ValueError,
        match=r"`arc_format` must be one of \['enas_lm', "
        r"'original'\]\. Received: arc_format='darts'",
    ):
        rnn.RNNCellSpace(arc_format="darts")


def test_arc_errors_name_position_node_value_and_range():
    space = rnn.RNNCellSpace(num_nodes=9)
    bad = ENAS_LM_FINAL.split()
    bad[4] = "7"
    with pytest.raises(
        ValueError,
        match=r"Invalid enas_lm arc: token 4 \(node 3 input\) "
        r"is 7; expected an integer in \[0, 2\]\.",
    ):
        space.parse(" ".join(bad))
    with pytest.raises(
        ValueError,
        match=r"Invalid original arc: token 0 \(node 0 "
        r"activation\) is 4; expected an integer in \[0, 3\]\.",
    ):
        rnn.RNNCellSpace(3, "original").validate([4, 0, 0, 0, 0])
    with pytest.raises(
        ValueError,
        match=r"Invalid enas_lm arc: expected 16 tokens for "
        r"RNNCellSpace\(num_nodes=9, arc_format='enas_lm'\); received 23\.",
    ):
        space.parse(PTB_FINAL)
    with pytest.raises(
        ValueError,
        match=r"Invalid enas_lm arc: token 1 is 'x'; "
        r"expected an integer\.",
    ):
        space.parse("0 x 1")
    with pytest.raises(ValueError, match=r"token 1 is 1\.5; expected an integer\."):
        space.validate([0, 1.5])
    with pytest.raises(ValueError, match=r"token 0 is True; expected an integer\."):
        space.validate([True, 0])
    with pytest.raises(TypeError, match=r"use `parse\(\)` for a string"):
        space.validate(ENAS_LM_FINAL)
    with pytest.raises(
        TypeError,
        match=r"`arc` must be a sequence of integers\. "
        r"Received: arc=5 of type int",
    ):
        space.parse(5)


def test_encode_and_cell_errors():
    space = rnn.RNNCellSpace(num_nodes=9)
    with pytest.raises(TypeError, match=r"`cell` must be an RNNCell\. Received: tuple"):
        space.encode(ENAS_LM_TABLE)
    with pytest.raises(
        ValueError,
        match=r"`cell` has 12 nodes but this space has "
        r"num_nodes=9\.",
    ):
        space.encode(rnn.RNNCell(PTB_FINAL_TABLE))
    with pytest.raises(
        ValueError,
        match=r"Node 2 input must be an integer in \[0, 1\]\. "
        r"Received: 2",
    ):
        rnn.RNNCell(((None, "tanh"), (0, "relu"), (2, "relu")))
    with pytest.raises(
        ValueError,
        match=r"Node 1 activation must be one of .*"
        r"Received: 'gelu'",
    ):
        rnn.RNNCell(((None, "tanh"), (0, "gelu")))
    with pytest.raises(ValueError, match=r"Node 0 input must be None\. Received: 0"):
        rnn.RNNCell(((0, "tanh"), (0, "tanh")))
    with pytest.raises(ValueError, match=r"`nodes` must hold >= 2 nodes\. Received: 1"):
        rnn.RNNCell(((None, "tanh"),))
