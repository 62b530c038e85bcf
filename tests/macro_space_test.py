"""Tests for keras_enas.search_spaces.macro: macro schema, arc codec and MacroNetwork."""

import collections
import json

import numpy as np
import pytest

from keras_enas.search_spaces import base, macro

# scripts/cifar10_macro_final.sh, one row per layer as in the script (24 layers, 300 tokens).
MACRO_FINAL = " ".join(
    [
        "0",
        "3 0",
        "0 1 0",
        "2 0 0 1",
        "2 0 0 0 0",
        "3 1 1 0 1 0",
        "2 0 0 0 0 0 1",
        "2 0 1 1 0 1 1 1",
        "1 0 1 1 1 0 1 0 1",
        "0 0 0 0 0 0 0 0 0 0",
        "2 0 0 0 0 0 1 0 0 0 0",
        "0 1 0 0 1 1 0 0 0 0 1 1",
        "2 0 1 0 0 0 0 0 1 0 1 1 0",
        "1 0 0 1 0 0 0 1 1 1 0 1 0 1",
        "0 1 1 0 1 0 1 0 0 0 0 0 1 0 0",
        "2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1",
        "2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0",
        "2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1",
        "3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0",
        "3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1",
        "0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0",
        "3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0",
        "0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0",
        "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0",
    ]
)
# enas-reference.md §2(b) table, written by hand: (op, skip inputs besides o_{k-1}).
MACRO_TABLE = (
    ("conv3", ""),
    ("sep5", ""),
    ("conv3", "stem"),
    ("conv5", "o1"),
    ("conv5", ""),
    ("sep5", "stem o0 o2"),
    ("conv5", "o4"),
    ("conv5", "o0 o1 o3 o4 o5"),
    ("sep3", "o0 o1 o2 o4 o6"),
    ("conv3", ""),
    ("conv5", "o4"),
    ("conv3", "stem o2 o3 o8 o9"),
    ("conv5", "o0 o6 o8 o9"),
    ("sep3", "o1 o5 o6 o7 o9 o11"),
    ("conv3", "stem o0 o2 o4 o10"),
    ("conv5", "o1 o9 o11 o13"),
    ("conv5", "o0 o4 o7 o8 o9 o10 o13"),
    ("conv5", "o3 o5 o7 o10 o12 o15"),
    ("sep5", "o0 o1 o3 o9 o11 o13"),
    ("sep5", "o0 o1 o11 o12 o17"),
    ("conv3", "stem o2 o4 o5 o9 o15 o16"),
    ("sep5", "o0 o2 o3 o6 o8 o9 o11 o12 o14 o17"),
    ("conv3", "stem o1 o3 o12 o14 o17"),
    ("conv3", "stem o0 o4 o5 o6 o8 o12 o14 o17 o18"),
)


def _table_network():
    return macro.MacroNetwork(tuple((op, tuple(skips.split())) for op, skips in MACRO_TABLE))


def test_published_final_arc_decodes_to_reference_table():
    space = macro.MacroSpace(num_layers=24)
    arc = space.parse(MACRO_FINAL)
    assert space.arc_length == 300 == len(arc)
    network = space.decode(arc)
    assert network == _table_network()
    assert network.pool_layers == (7, 15)
    counts = collections.Counter(op for op, _ in network.layers)
    assert counts == {"conv5": 9, "conv3": 8, "sep5": 5, "sep3": 2}
    assert (
        network.num_skips == 98 == int(arc.sum() - arc[space.token_layout()["op_positions"]].sum())
    )


def test_round_trip_and_format():
    space = macro.MacroSpace(num_layers=24)
    arc = space.encode(_table_network())
    assert space.format_arc(arc) == MACRO_FINAL
    assert space.decode(arc) == _table_network()


def test_skip_bit_j_means_node_j_with_stem_first():
    space = macro.MacroSpace(num_layers=3)
    # Layer 2 skip bits [1, 0] -> node 0 = stem; [0, 1] -> node 1 = o0.
    assert space.decode([0, 0, 0, 0, 1, 0]).layers[2] == ("conv3", ("stem",))
    assert space.decode([0, 0, 0, 5, 0, 1]).layers[2] == ("maxpool3", ("o0",))
    assert [space.decode([i, 0, 0, 0, 0, 0]).layers[0][0] for i in range(6)] == list(
        macro.MACRO_OPS
    )


@pytest.mark.parametrize(
    "num_layers,expected", [(12, (3, 7)), (24, (7, 15)), (3, (0, 1)), (5, (0, 1))]
)
def test_pool_layers_follow_the_code(num_layers, expected):
    assert macro.MacroSpace(num_layers).pool_layers == expected


@pytest.mark.parametrize("num_layers", [3, 12])
def test_schema_matches_arc_and_layout(num_layers):
    space = macro.MacroSpace(num_layers)
    length = num_layers + num_layers * (num_layers - 1) // 2
    assert space.arc_length == length == base.arc_length(space.steps)
    assert base.validate_steps(space.steps, space.initial_anchors) == num_layers
    assert space.steps[1] == base.AnchorStep("layer0", reset_input=True)
    steps = [s for s in space.steps for _ in range(s.num_tokens)]
    layout = space.token_layout()
    for k in range(num_layers):
        assert steps[layout["op_positions"][k]] == base.OpChoice(f"layer{k}_op", "macro_op", 6)
        row = layout["skip_positions"][k]
        assert (row[k:] == -1).all()
        for j in range(k):
            assert steps[row[j]] == base.SkipChoice(f"layer{k}_skips", k, register_anchor=True)
            assert space.token_names[row[j]] == f"layer {k} skips bit {j}"
    used = np.concatenate([layout["op_positions"], layout["skip_positions"].ravel()])
    assert sorted(used[used >= 0]) == list(range(length))


def test_random_arcs():
    space = macro.MacroSpace(num_layers=12)
    rng = np.random.default_rng(1)
    arcs = np.stack([space.random_arc(rng) for _ in range(300)])
    ops = space.token_layout()["op_positions"]
    skips = np.setdiff1d(np.arange(space.arc_length), ops)
    for arc in arcs:
        np.testing.assert_array_equal(space.encode(space.decode(arc)), arc)
    assert set(arcs[:, ops].ravel()) == set(range(6))
    # 300 * 66 Bernoulli(0.4) bits: the mean is within 0.02 of 0.4 with high probability.
    assert abs(arcs[:, skips].mean() - 0.4) < 0.02
    assert space.random_arc(rng, skip_prob=0.0)[skips].sum() == 0
    assert (space.random_arc(rng, skip_prob=1.0)[skips] == 1).all()
    np.testing.assert_array_equal(space.random_arc(3), space.random_arc(3))


def test_printing_and_json():
    space = macro.MacroSpace(24)
    network = space.decode(space.parse(MACRO_FINAL))
    lines = str(network).splitlines()
    assert "24 layers, 98 skips" in lines[0] and "(7, 15)" in lines[0]
    assert lines[2].split() == ["0", "conv3", "stem", "-"]
    assert lines[2 + 7].split() == [
        "7",
        "conv5",
        "o6",
        "o0,",
        "o1,",
        "o3,",
        "o4,",
        "o5",
        "->",
        "pool",
    ]
    data = json.loads(json.dumps(network.to_dict()))
    assert data["layers"][5] == {
        "layer": 5,
        "op": "sep5",
        "input": "o4",
        "skips": ["stem", "o0", "o2"],
    }
    assert data["pool_layers"] == [7, 15]


def test_errors():
    with pytest.raises(ValueError, match=r"`num_layers` must be >= 3\. Received: num_layers=2"):
        macro.MacroSpace(num_layers=2)
    with pytest.raises(
        TypeError,
        match=r"`num_layers` must be an int\. Received: "
        r"num_layers=12\.0",
    ):
        macro.MacroSpace(num_layers=12.0)
    space = macro.MacroSpace(num_layers=3)
    with pytest.raises(
        ValueError,
        match=r"Invalid macro arc: token 5 \(layer 2 skips bit 1\)"
        r" is 2; expected an integer in \[0, 1\]\.",
    ):
        space.parse("0 0 0 0 0 2")
    with pytest.raises(
        ValueError,
        match=r"Invalid macro arc: token 3 \(layer 2 op\) is 6; "
        r"expected an integer in \[0, 5\]\.",
    ):
        space.parse("0 0 0 6 0 0")
    with pytest.raises(
        ValueError,
        match=r"Invalid macro arc: expected 6 tokens for "
        r"MacroSpace\(num_layers=3\); received 300\.",
    ):
        space.parse(MACRO_FINAL)
    with pytest.raises(
        ValueError,
        match=r"`skip_prob` must be in \[0, 1\]\. "
        r"Received: skip_prob=1\.5",
    ):
        space.random_arc(0, skip_prob=1.5)
    with pytest.raises(
        ValueError,
        match=r"`network` has 24 layers but this space has "
        r"num_layers=3\.",
    ):
        space.encode(_table_network())
    with pytest.raises(TypeError, match=r"`network` must be a MacroNetwork\. Received: list"):
        space.encode([])


def test_network_errors():
    with pytest.raises(ValueError, match=r"Layer 1 op must be one of .*Received: 'conv7'"):
        macro.MacroNetwork((("conv3", ()), ("conv7", ())))
    with pytest.raises(
        ValueError,
        match=r"Layer 2 may only skip to stem \.\. o0\. "
        r"Received: 'o1'",
    ):
        macro.MacroNetwork((("conv3", ()), ("conv3", ()), ("conv3", ("o1",))))
    with pytest.raises(
        ValueError,
        match=r"Layer 1 skip inputs must be 'stem' or 'oK'\. "
        r"Received: 'x'",
    ):
        macro.MacroNetwork((("conv3", ()), ("conv3", ("x",))))
    with pytest.raises(ValueError, match=r"`layers` must not be empty\."):
        macro.MacroNetwork(())
