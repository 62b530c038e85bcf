"""Tests for keras_enas.layout: depths, layers below their inputs, waypoints, no overlaps."""

import itertools

import numpy as np
import pytest

from keras_enas import layout
from keras_enas.search_spaces import get_space

PTB_FINAL = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
ENAS_LM_FINAL = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
MICRO_FINAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"


def _rnn_graph(arc_format, num_nodes, fixed_arc):
    """x_t, h_{t-1} → node 0 → ...; loose ends → avg → h_t (as draw builds it)."""
    space = get_space("ptb_rnn", num_nodes=num_nodes, arc_format=arc_format)
    cell = space.decode(space.parse(fixed_arc))
    graph = {"x": (), "h": ()}
    graph.update(
        {k: ("x", "h") if inp is None else (inp,) for k, (inp, _) in enumerate(cell.nodes)}
    )
    graph.update({"avg": cell.loose_ends, "out": ("avg",)})
    return graph, ()


def _micro_graph(cell_name):
    """Inputs 0, 1 → op boxes (b, "x"|"y") → add nodes b → concat."""
    space = get_space("micro", num_nodes=5)
    cell = getattr(space.decode(space.parse(MICRO_FINAL)), cell_name)
    graph, ops = {0: (), 1: ()}, []
    for b, pair in enumerate(cell.nodes, start=2):
        for side, (inp, _) in zip("xy", pair):
            graph[(b, side)] = (inp,)
            ops.append((b, side))
        graph[b] = ((b, "x"), (b, "y"))
    graph["concat"] = cell.loose_ends
    return graph, ops


def _random_dag(seed, size=20):
    rng = np.random.default_rng(seed)
    graph = {0: ()}
    for k in range(1, size):
        count = rng.integers(0, min(k, 3) + 1)
        graph[k] = tuple(int(i) for i in rng.choice(k, size=count, replace=False))
    return graph, ()


GRAPHS = {
    "ptb_final": _rnn_graph("original", 12, PTB_FINAL),
    "enas_lm_final": _rnn_graph("enas_lm", 9, ENAS_LM_FINAL),
    "micro_normal": _micro_graph("normal"),
    "micro_reduce": _micro_graph("reduce"),
    **{f"random_{seed}": _random_dag(seed) for seed in range(3)},
}


def test_node_depths_is_the_longest_path():
    depths = layout.node_depths({"x": (), "a": ("x",), "b": ("x", "a"), "c": ("b", "x")})
    assert depths == {"x": 0, "a": 1, "b": 2, "c": 3}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_every_node_lies_below_its_inputs(name):
    graph, attach = GRAPHS[name]
    positions, _ = layout.layered_layout(graph, attach=attach, x_spacing=1.5)
    assert set(positions) == set(graph)
    for node, inputs in graph.items():
        for source in inputs:
            assert positions[node][1] < positions[source][1], (source, node)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_boxes_and_waypoints_do_not_overlap(name):
    graph, attach = GRAPHS[name]
    positions, routes = layout.layered_layout(graph, attach=attach, x_spacing=1.5)
    for a, b in itertools.combinations(positions, 2):
        if positions[a][1] == positions[b][1]:
            assert abs(positions[a][0] - positions[b][0]) >= 1.5 - 1e-9, (a, b)
    for (source, node), points in routes.items():
        top, bottom = positions[source][1], positions[node][1]
        # One waypoint on every layer strictly between the edge's ends, top to bottom.
        assert [y for _, y in points] == list(np.arange(top - 1, bottom, -1.0))
        for x, y in points:  # a box takes x_spacing / 2 either side, a waypoint a quarter
            assert all(abs(x - px) >= 0.75 * 1.5 - 1e-9 for px, py in positions.values() if py == y)


def test_rnn_layers_follow_the_cell():
    positions, routes = layout.layered_layout(GRAPHS["ptb_final"][0])
    depth = {node: -y for node, (_, y) in positions.items()}
    assert depth["x"] == depth["h"] == 0 and depth[0] == 1 and depth[1] == 2
    assert depth[9] == depth[10] == depth[11] == 7 and depth["avg"] == 8
    assert len(routes[3, "avg"]) == 3  # node 3 (layer 4) reaches avg (layer 8)
    assert routes[8, 9] == ()


def test_attached_op_boxes_sit_right_above_their_node():
    graph, ops = GRAPHS["micro_reduce"]
    positions, _ = layout.layered_layout(graph, attach=ops)
    for b, side in ops:
        assert positions[b, side][1] == positions[b][1] + 1.0
    # Node 4 reads node 3 (layer 2): its op boxes move down to layer 3, not layer 1.
    assert positions[4, "x"][1] == positions[4, "y"][1] == -3.0


def test_a_chain_stays_straight():
    positions, _ = layout.layered_layout({"a": (), "b": ("a",), "c": ("b",)})
    assert positions == {"a": (0.0, 0.0), "b": (0.0, -1.0), "c": (0.0, -2.0)}


def test_errors():
    with pytest.raises(ValueError, match="not a node"):
        layout.node_depths({"a": ("z",)})
    with pytest.raises(ValueError, match="DAG.*cycle"):
        layout.layered_layout({"a": ("b",), "b": ("a",), "c": ()})
    with pytest.raises(ValueError, match="must be > 0"):
        layout.layered_layout({"a": ()}, x_spacing=0)


def test_top_layer_keeps_the_order_of_inputs():
    # Reordering the top layer by its consumers would put "b" before "a" here.
    graph = {"a": (), "b": (), "c": ("a", "b"), "d": ("b",), "e": ("b", "d"), "f": ("c", "b")}
    positions, _ = layout.layered_layout(graph)
    assert positions["a"][0] < positions["b"][0]
