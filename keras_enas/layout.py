"""A small layered (Sugiyama-style) layout for drawing architecture DAGs top to bottom."""

import collections
import dataclasses
from typing import NamedTuple

import numpy as np

__all__ = ["layered_layout", "Layout", "node_depths"]


def node_depths(inputs):
    """Returns the depth of every node of a DAG: the longest path from a source.

    Args:
        inputs: dict mapping each node (any hashable) to the sequence of its input
            nodes; nodes without inputs are sources (depth 0).

    Returns:
        A dict node → int depth, in a topological order.

    Raises:
        ValueError: if a node reads a node missing from `inputs`, or the graph has a cycle.

    Example:
    >>> node_depths({"x": (), "a": ("x",), "b": ("x", "a")})
    {'x': 0, 'a': 1, 'b': 2}
    """
    for node, node_inputs in inputs.items():
        for source in node_inputs:
            if source not in inputs:
                raise ValueError(
                    f"Node {node!r} reads {source!r}, which is not a node of `inputs`."
                )
    depth, pending = {}, dict(inputs)
    while pending:
        ready = [
            node
            for node, node_inputs in pending.items()
            if all(source in depth for source in node_inputs)
        ]
        if not ready:
            raise ValueError(
                "`inputs` must describe a DAG; these nodes are on a cycle: "
                f"{sorted(map(str, pending))}"
            )
        for node in ready:
            depth[node] = 1 + max((depth[source] for source in pending.pop(node)), default=-1)
    return depth


class Layout(NamedTuple):
    """Where `layered_layout` puts things.

    Attributes:
        positions: dict node → `(x, y)` box centre.
        routes: dict `(source, node)` → tuple of `(x, y)` waypoints, top to bottom,
            where the edge crosses the layers strictly between its ends (empty for
            edges between adjacent layers). Space is reserved there, so an edge drawn
            through its waypoints crosses no box.
    """

    positions: dict
    routes: dict


@dataclasses.dataclass(frozen=True)
class _Dummy:
    """A point of a long edge on an intermediate layer (never equal to a user's node)."""

    source: object
    node: object
    layer: int


def _mean(values, default):
    return float(np.mean(values)) if len(values) else default


def _place(layer, want, half_width):
    """x of one layer's nodes, in order, not overlapping, each as near its `want`ed x.

    Averages a left-to-right and a right-to-left packing, so crowded nodes spread
    evenly around where they want to be and free ones stay put.
    """
    gaps = [half_width(a) + half_width(b) for a, b in zip(layer[:-1], layer[1:])]
    right, left = list(want), list(want)
    for i, gap in enumerate(gaps):
        right[i + 1] = max(right[i + 1], right[i] + gap)
        j = len(gaps) - 1 - i
        left[j] = min(left[j], left[j + 1] - gaps[j])
    return {node: (r + lf) / 2 for node, r, lf in zip(layer, right, left)}


def _layers(inputs, attach):
    """Depth of every node (`attach`ed nodes pulled down) and the graph with dummies."""
    depth = node_depths(inputs)
    consumers = {node: [] for node in inputs}
    for node, node_inputs in inputs.items():
        for source in node_inputs:
            consumers[source].append(node)
    attach = set(attach)
    for node in reversed(list(depth)):  # consumers first: their depth is final
        if node in attach and len(consumers[node]) == 1:
            depth[node] = depth[consumers[node][0]] - 1
    graph = {node: [] for node in inputs}
    for node, node_inputs in inputs.items():
        for source in dict.fromkeys(node_inputs):
            previous = source
            for layer in range(depth[source] + 1, depth[node]):
                dummy = _Dummy(source, node, layer)
                graph[dummy], depth[dummy] = [previous], layer
                previous = dummy
            graph[node].append(previous)
    return depth, graph


def layered_layout(inputs, attach=(), x_spacing=1.0, y_spacing=1.0, sweeps=4):
    """Places a DAG in horizontal layers, top to bottom: each node lies below its inputs.

    A node's layer is its depth (`node_depths`); nodes listed in `attach` that feed
    exactly one node then move down to the layer just above it (e.g. an op box on
    the edge into the node it feeds). An edge spanning several layers gets a
    waypoint on each layer it crosses (Sugiyama's dummy nodes). The top layer keeps
    the order of `inputs`; nodes of the other layers are ordered by the mean rank of
    their neighbours (`sweeps` down and up passes, to cut crossings). Then each node
    is placed near the mean x of its inputs, nodes at least `x_spacing` apart and
    waypoints half that.

    Args:
        inputs: dict node → sequence of its input nodes (see `node_depths`).
        attach: nodes to place right above their only consumer.
        x_spacing: minimum horizontal distance between two nodes of a layer.
        y_spacing: vertical distance between consecutive layers.
        sweeps: ordering passes (each one down and one up).

    Returns:
        A `Layout`: node positions, with `y = -layer * y_spacing` (sources at
        y = 0), and the waypoints of long edges.

    Raises:
        ValueError: as `node_depths`, or if a spacing is not positive.

    Example:
    >>> pos = layered_layout({"x": (), "a": ("x",), "b": ("x",), "c": ("a", "b")})
    >>> pos.positions["x"], pos.positions["c"]
    ((0.0, 0.0), (0.0, -2.0))
    """
    if not (x_spacing > 0 and y_spacing > 0):
        raise ValueError(
            "`x_spacing` and `y_spacing` must be > 0. Received: "
            f"x_spacing={x_spacing}, y_spacing={y_spacing}"
        )
    depth, graph = _layers(inputs, attach)
    consumers = {node: [] for node in graph}
    for node, node_inputs in graph.items():
        for source in node_inputs:
            consumers[source].append(node)
    grouped = collections.defaultdict(list)
    for node in graph:
        grouped[depth[node]].append(node)
    layers = [grouped[d] for d in sorted(grouped)]
    rank = {}

    def rerank(layer):
        rank.update({node: i - (len(layer) - 1) / 2 for i, node in enumerate(layer)})

    for layer in layers:
        rerank(layer)
    for _ in range(sweeps):
        for neighbours, order in ((graph, layers[1:]), (consumers, layers[:0:-1])):
            for layer in order:  # the top layer keeps the order of `inputs`
                layer.sort(key=lambda n: _mean([rank[m] for m in neighbours[n]], rank[n]))
                rerank(layer)

    def half_width(node):
        return x_spacing / (4 if isinstance(node, _Dummy) else 2)

    xs = {}
    for layer in layers:
        want = [_mean([xs[m] for m in graph[n]], rank[n] * x_spacing) for n in layer]
        xs.update(_place(layer, want, half_width))
    positions = {node: (float(xs[node]), -depth[node] * float(y_spacing)) for node in inputs}
    routes = {(source, node): () for node, node_inputs in inputs.items() for source in node_inputs}
    for dummy in sorted((n for n in graph if isinstance(n, _Dummy)), key=lambda d: d.layer):
        point = (float(xs[dummy]), -dummy.layer * float(y_spacing))
        routes[dummy.source, dummy.node] += (point,)
    return Layout(positions, routes)
