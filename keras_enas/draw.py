"""Draws decoded architectures (RNN cell, macro network, micro cells) to PNG or SVG files."""

import os

import matplotlib
import numpy as np

from keras_enas import canvas, layout
from keras_enas.search_spaces import macro, micro, rnn

__all__ = ["ACTIVATION_LABELS", "COLORS", "draw", "figure", "FORMATS", "OP_LABELS"]

FORMATS = ("png", "svg")
ACTIVATION_LABELS = {"tanh": "tanh", "relu": "ReLU", "identity": "identity", "sigmoid": "sigmoid"}
OP_LABELS = {
    "conv3": "conv 3×3",
    "conv5": "conv 5×5",
    "sep3": "sep 3×3",
    "sep5": "sep 5×5",
    "avgpool3": "avg 3×3",
    "maxpool3": "max 3×3",
    "identity": "identity",
}
_MACRO_LABELS = {**OP_LABELS, "avgpool3": "avg pool 3×3", "maxpool3": "max pool 3×3"}
COLORS = {
    "tanh": "#9ecae1",
    "relu": "#fdae6b",
    "identity": "#e0e0e0",
    "sigmoid": "#a1d99b",
    "conv3": "#fdae6b",
    "conv5": "#f4845f",
    "sep3": "#9ecae1",
    "sep5": "#6baed6",
    "avgpool3": "#a1d99b",
    "maxpool3": "#c7e9c0",
    "input": "#ffffff",
    "add": "#f2f2f2",
    "merge": "#ffe08a",
    "output": "#ffffff",
    "stem": "#d9d9d9",
}
_HEIGHT = canvas.HEIGHT


def _ports(center, width, count):
    """x of `count` edge ends spread along a box side of `width` centred at `center`."""
    step = min(0.16, 0.6 * width / max(count - 1, 1))
    return center + (np.arange(count) - (count - 1) / 2) * step


def _draw_dag(board, inputs, nodes, attach=(), x_spacing=1.6, left=None):
    """Lays out and draws a DAG; `nodes[n]` = (label, color, index or None, round).

    Edges leave a box at its bottom and enter the next at its top, through the
    layout's waypoints. With `left`, the drawing is shifted so that its leftmost
    box starts at x = `left`. Returns the node positions.
    """
    positions, routes = layout.layered_layout(inputs, attach=attach, x_spacing=x_spacing)
    widths = {
        n: max(canvas.label_width(nodes[n][0].strip("$")), 0.2 * len(inputs[n])) for n in inputs
    }
    shift = (
        0.0 if left is None else left - min(x - widths[n] / 2 for n, (x, _) in positions.items())
    )
    positions = {n: (x + shift, y) for n, (x, y) in positions.items()}
    routes = {edge: [(x + shift, y) for x, y in points] for edge, points in routes.items()}
    for node, (x, y) in positions.items():
        label, color, index, round_box = nodes[node]
        board.box((x, y), label, color, widths[node], index, round_box)
    ends = {}  # edge → [start, end]

    def heading(edge, end):  # x of the edge's far end (or nearest waypoint), to order ports
        points = routes[edge] or [positions[edge[1 - end]]]
        return points[-1 if end else 0][0]

    for node in positions:
        for end, edges in (
            (0, [(node, n) for n, ins in inputs.items() if node in ins]),
            (1, [(s, node) for s in dict.fromkeys(inputs[node])]),
        ):
            edges.sort(key=lambda edge: heading(edge, end))
            (x, y), sign = positions[node], 1 if end else -1
            y += sign * (_HEIGHT / 2 + 0.03)
            for edge, port in zip(edges, _ports(x, widths[node], len(edges))):
                ends.setdefault(edge, [None, None])[end] = (port, y)
    for edge, (start, end) in ends.items():
        board.curve([start, *routes[edge], end])
        for x, y in routes[edge]:
            board.grow(x - 0.1, y, x + 0.1, y)
    return positions


def _draw_rnn(cell, title):
    """The cell as in the paper's figure: x_t, h_{t-1} → node 0 → ... → avg → h_t."""
    inputs = {"x": (), "h": ()}
    nodes = {
        "x": ("$x_t$", COLORS["input"], None, False),
        "h": ("$h_{t-1}$", COLORS["input"], None, False),
    }
    for k, (source, activation) in enumerate(cell.nodes):
        inputs[k] = ("x", "h") if source is None else (source,)
        nodes[k] = (ACTIVATION_LABELS[activation], COLORS[activation], k, True)
    inputs["avg"], inputs["out"] = cell.loose_ends, ("avg",)
    nodes["avg"] = ("avg", COLORS["merge"], None, True)
    nodes["out"] = ("$h_t$", COLORS["output"], None, False)
    board = canvas.Canvas()
    _draw_dag(board, inputs, nodes)
    if title is None:
        title = (
            f"RNN cell: {len(cell.nodes)} nodes, output = avg of {len(cell.loose_ends)} loose ends"
        )
    return board.finish(title)


def _draw_cell(board, cell, name, left=None):
    """One micro cell panel: h_{i-2}, h_{i-1} → op boxes → add nodes → concat → h_i."""
    inputs = {0: (), 1: ()}
    nodes = {
        0: ("$h_{i-2}$", COLORS["input"], None, False),
        1: ("$h_{i-1}$", COLORS["input"], None, False),
    }
    ops = []
    for b, pair in enumerate(cell.nodes, start=2):
        for side, (source, op) in zip("xy", pair):
            inputs[(b, side)] = (source,)
            nodes[(b, side)] = (OP_LABELS[op], COLORS[op], None, True)
            ops.append((b, side))
        inputs[b] = ((b, "x"), (b, "y"))
        nodes[b] = ("add", COLORS["add"], b, True)
    inputs["concat"], inputs["out"] = cell.loose_ends, ("concat",)
    nodes["concat"] = ("concat", COLORS["merge"], None, True)
    nodes["out"] = ("$h_i$", COLORS["output"], None, False)
    positions = _draw_dag(board, inputs, nodes, attach=ops, x_spacing=1.25, left=left)
    if name:
        xs = [x for x, _ in positions.values()]
        board.text((min(xs) + max(xs)) / 2, 0.75, name, fontsize=11, fontstyle="italic")


def _draw_micro(cells, title):
    """Both cells side by side: the normal cell left, the reduction cell right."""
    board = canvas.Canvas()
    _draw_cell(board, cells.normal, "normal cell")
    divide = board.extent[2] + 0.6
    _draw_cell(board, cells.reduce, "reduction cell", left=divide + 0.6)
    board.ax.plot(
        [divide, divide], board.extent[1::2], color="#b0b0b0", linestyle="--", linewidth=1.0
    )
    if title is None:
        title = (
            f"Micro cells: {len(cells.normal.nodes)} nodes each, output = concat of "
            f"{len(cells.normal.loose_ends)} (normal) and {len(cells.reduce.loose_ends)} "
            "(reduction) loose ends"
        )
    return board.finish(title)


def _draw_single_cell(cell, title):
    """One micro cell, alone."""
    board = canvas.Canvas()
    _draw_cell(board, cell, "")
    if title is None:
        title = (
            f"Micro cell: {len(cell.nodes)} nodes, output = concat of "
            f"{len(cell.loose_ends)} loose ends"
        )
    return board.finish(title)


def _macro_node(name):
    """Node index of a skip input name: `"stem"` → 0, `"oJ"` → J + 1."""
    return 0 if name == "stem" else int(name[1:]) + 1


def _draw_macro(network, title):
    """The layers as a vertical chain; skips as arcs on the right; reductions marked."""
    board, width, step = canvas.Canvas(), 1.6, 0.8
    ys = [0.0]
    for k in range(len(network.layers)):
        ys.append(ys[-1] - step - (0.4 if k - 1 in network.pool_layers else 0.0))
    board.box((0.0, 0.0), "stem", COLORS["stem"], width)
    for k, (op, _) in enumerate(network.layers):
        board.box((0.0, ys[k + 1]), _MACRO_LABELS[op], COLORS[op], width, index=k)
        board.curve([(0.0, ys[k] - _HEIGHT / 2 - 0.03), (0.0, ys[k + 1] + _HEIGHT / 2 + 0.03)])
    for k in network.pool_layers:
        y = (ys[k + 1] + ys[k + 2]) / 2
        board.ax.axhline(y, color="#a0a0a0", linestyle="--", linewidth=1.0, zorder=0)
        board.text(
            -width / 2 - 0.4,
            y,
            "factorized reduction, stride 2",
            ha="right",
            fontsize=8,
            color="#606060",
            fontstyle="italic",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
        )
    skips = [
        (_macro_node(name), k + 1) for k, (_, names) in enumerate(network.layers) for name in names
    ]
    colors, linewidth = matplotlib.colormaps["tab10"], 1.0 if len(skips) < 40 else 0.8
    start, end = {}, {}
    for node in range(len(ys)):
        outgoing = sorted((s for s in skips if s[0] == node), key=lambda s: -s[1])
        incoming = sorted((s for s in skips if s[1] == node), key=lambda s: -s[0])
        for skip, dy in zip(outgoing, _ports(-0.11, 0.16, len(outgoing))[::-1]):
            start[skip] = (width / 2 + 0.03, ys[node] + dy)
        for skip, dy in zip(incoming, _ports(0.11, 0.16, len(incoming))[::-1]):
            end[skip] = (width / 2 + 0.03, ys[node] + dy)
    for source, target in skips:
        bulge = (0.3 + 0.12 * (target - source)) / 0.75
        board.loop(
            start[source, target], end[source, target], bulge, colors(source % 10), linewidth
        )
    if title is None:
        title = f"Macro network: {len(network.layers)} layers, {network.num_skips} skip connections"
    return board.finish(title)


_DRAWERS = (
    (rnn.RNNCell, _draw_rnn),
    (macro.MacroNetwork, _draw_macro),
    (micro.MicroCells, _draw_micro),
    (micro.Cell, _draw_single_cell),
)


def figure(architecture, title=None):
    """Returns a matplotlib `Figure` of a decoded architecture (no pyplot, no file).

    Nodes are labelled boxes and edges arrows, laid out top to bottom in layers (a
    node's layer is its longest path from the inputs, `keras_enas.layout`):

    - `RNNCell` (ptb_rnn), as the paper's cell figure: `x_t` and `h_{t-1}` feed node
      0; each node shows its activation (its index on the left); the loose ends
      feed an "avg" box, whose output is `h_t`.
    - `MacroNetwork`: the layers as a vertical chain from the stem, each box showing
      its op; skip connections as arcs on the right (one color per source); dashed
      lines mark the factorized reductions after `pool_layers`.
    - `MicroCells`: ONE figure with two panels, the normal cell left and the
      reduction cell right. Inputs `h_{i-2}` (node 0) and `h_{i-1}` (node 1); each
      node is an "add" box (its index on the left) fed by two op boxes, one on each
      of its edges; the loose ends feed a "concat" box, whose output is `h_i`. A
      single micro `Cell` is drawn as one panel.

    Args:
        architecture: an `RNNCell`, `MacroNetwork`, `MicroCells` or micro `Cell`, as
            `space.decode(arc)` returns it.
        title: figure title; None gives a summary (e.g. the number of loose ends),
            `""` none.

    Returns:
        A `matplotlib.figure.Figure`, ~0.75 inch per layout unit.

    Raises:
        TypeError: if `architecture` is none of these types.
    """
    drawer = next((fn for cls, fn in _DRAWERS if isinstance(architecture, cls)), None)
    if drawer is None:
        raise TypeError(
            "`architecture` must be an RNNCell, MacroNetwork, MicroCells or Cell. "
            f"Received: {type(architecture).__name__}"
        )
    return drawer(architecture, title)


def draw(architecture, path, title=None, dpi=150, drawer=None):
    """Draws a decoded architecture (see `figure`) to a PNG or SVG file.

    The format is the file's extension. SVG text stays text (searchable and
    editable), not glyph outlines.

    Args:
        architecture: an `RNNCell`, `MacroNetwork`, `MicroCells` or micro `Cell`.
        path: where to write; a str or path-like ending in `.png` or `.svg` (any case).
        title: figure title; None gives a summary, `""` none.
        dpi: PNG resolution in dots per inch.
        drawer: `(architecture, title) → Figure` to use instead of `figure` (a space's
            registered drawer, `SpaceSpec.drawer`).

    Returns:
        `path`, as a str.

    Raises:
        TypeError: if `architecture` is none of these types or `path` is not a
            str or path-like.
        ValueError: if the extension is neither `.png` nor `.svg`, or `dpi <= 0`.
        OSError: if the file cannot be written.

    Example:
    >>> space = get_space("ptb_rnn", num_nodes=12, arc_format="original")
    >>> cell = space.decode(space.parse("0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"))
    >>> draw(cell, "/tmp/ptb_cell.svg")
    '/tmp/ptb_cell.svg'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or path-like. Received: path={path!r}")
    path = os.fspath(path)
    extension = os.path.splitext(path)[1][1:].lower()
    if extension not in FORMATS:
        raise ValueError(
            f"`path` must end in one of {['.' + f for f in FORMATS]}. Received: path={path!r}"
        )
    if not dpi > 0:
        raise ValueError(f"`dpi` must be > 0. Received: dpi={dpi}")
    fig = (drawer or figure)(architecture, title)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "keras_enas"}):
        fig.savefig(
            path, format=extension, dpi=dpi, metadata={"Date": None} if extension == "svg" else None
        )
    return path
