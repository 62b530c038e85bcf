"""The PTB recurrent-cell search space (ENAS §2.1): schema, both arc formats, `RNNCell`."""

import dataclasses

import numpy as np

from keras_enas.search_spaces import base, limits, space

__all__ = ["ACTIVATIONS", "ARC_FORMATS", "ArcFormat", "RNNCell", "RNNCellSpace"]

# Canonical activation order used by the shared layers (= the original repo's ids).
ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")


@dataclasses.dataclass(frozen=True)
class ArcFormat:
    """How one code base writes PTB arcs (enas-reference.md §2(a)).

    Attributes:
        name: `"original"` (melodyguan/enas) or `"enas_lm"` (google-research).
        activations: activation names in token-id order.
        searches_node0: whether the arc starts with node 0's activation `f0`;
            if False, node 0 is always tanh.
    """

    name: str
    activations: tuple
    searches_node0: bool


ARC_FORMATS = {
    # [f0, p1, f1, ..., p_{N-1}, f_{N-1}], length 2N - 1.
    "original": ArcFormat("original", ("tanh", "relu", "identity", "sigmoid"), True),
    # [p1, f1, ..., p_{N-1}, f_{N-1}], length 2(N - 1); node 0 is tanh.
    "enas_lm": ArcFormat("enas_lm", ("tanh", "relu", "sigmoid", "identity"), False),
}


@dataclasses.dataclass(frozen=True)
class RNNCell:
    """A decoded recurrent cell: the printable Architecture of a PTB arc.

    Node 0 reads `x_t` and `h_{t-1}`; node k > 0 reads one earlier node. Every node
    is a highway unit with its activation. The cell output `h_t` is the mean of
    the loose ends, the nodes no later node uses as input (ENAS §2.1).

    Args:
        nodes: sequence of `(input_node, activation)` pairs, one per node; node 0's
            input is None, node k's is an int in `[0, k)`; activations are names
            from `ACTIVATIONS`.

    Raises:
        ValueError: if a node's input or activation is invalid.

    Example:
    >>> cell = RNNCell(((None, "tanh"), (0, "relu"), (0, "tanh")))
    >>> cell.loose_ends
    (1, 2)
    """

    nodes: tuple

    def __post_init__(self):
        nodes = tuple((node[0], node[1]) for node in self.nodes)
        if len(nodes) < 2:
            raise ValueError(f"`nodes` must hold >= 2 nodes. Received: {len(nodes)} nodes")
        for k, (inp, act) in enumerate(nodes):
            if act not in ACTIVATIONS:
                raise ValueError(
                    f"Node {k} activation must be one of {ACTIVATIONS}. Received: {act!r}"
                )
            if k == 0 and inp is not None:
                raise ValueError(f"Node 0 input must be None. Received: {inp!r}")
            if k > 0 and (
                isinstance(inp, bool) or not isinstance(inp, (int, np.integer)) or not 0 <= inp < k
            ):
                raise ValueError(
                    f"Node {k} input must be an integer in [0, {k - 1}]. Received: {inp!r}"
                )
        nodes = tuple((None if inp is None else int(inp), act) for inp, act in nodes)
        object.__setattr__(self, "nodes", nodes)

    @property
    def loose_ends(self):
        """Sorted tuple of the nodes that no later node uses; `h_t` averages them."""
        used = {inp for inp, _ in self.nodes[1:]}
        return tuple(k for k in range(len(self.nodes)) if k not in used)

    def to_dict(self):
        """Returns a JSON-ready dict: the nodes and the loose ends."""
        return {
            "nodes": [
                {"node": k, "input": inp, "activation": act}
                for k, (inp, act) in enumerate(self.nodes)
            ],
            "loose_ends": list(self.loose_ends),
        }

    def __str__(self):
        ends = ", ".join(map(str, self.loose_ends))
        rows = [
            f"RNNCell: {len(self.nodes)} nodes; h_t = mean of loose ends ({ends})",
            "node  input         activation",
        ]
        for k, (inp, act) in enumerate(self.nodes):
            rows.append(f"{k:>4}  {'x_t, h_{t-1}' if inp is None else inp:<12}  {act}")
        return "\n".join(rows)


class RNNCellSpace(space.SearchSpace):
    """The ENAS recurrent cell: each node k > 0 picks one earlier node and an activation.

    Args:
        num_nodes: N, nodes in the cell including node 0 (ENAS uses 12; the
            enas_lm search decides 9 nodes after node 0, i.e. N = 10).
        arc_format: `"enas_lm"` (default; the authors' corrected code) or
            `"original"` (melodyguan/enas, e.g. `scripts/ptb_final.sh`). See
            `ARC_FORMATS`.

    Raises:
        ValueError: if `num_nodes` is outside [2, 32] (`limits.RNN_NUM_NODES`) or
            `arc_format` is unknown.
        TypeError: if `num_nodes` is not an int.

    Example:
    >>> rnn = RNNCellSpace(num_nodes=3, arc_format="enas_lm")
    >>> rnn.decode(rnn.parse("0 1 0 2")).nodes
    ((None, 'tanh'), (0, 'relu'), (0, 'sigmoid'))
    """

    name = "ptb_rnn"

    def __init__(self, num_nodes: int = 12, arc_format: str = "enas_lm") -> None:
        num_nodes = limits.check_size("num_nodes", num_nodes, limits.RNN_NUM_NODES)
        if arc_format not in ARC_FORMATS:
            raise ValueError(
                f"`arc_format` must be one of {sorted(ARC_FORMATS)}. "
                f"Received: arc_format={arc_format!r}"
            )
        self.num_nodes = int(num_nodes)
        self.arc_format = arc_format
        self._format = ARC_FORMATS[arc_format]
        steps = []
        if self._format.searches_node0:
            # Original controller: node 0's anchor, then its activation from g_emb.
            steps += [
                base.AnchorStep("node0", reset_input=True),
                base.OpChoice("node0_activation", "rnn_activation", 4),
            ]
        for k in range(1, self.num_nodes):
            steps += [
                base.InputChoice(
                    f"node{k}_input",
                    num_anchors=k,
                    register_anchor=True,
                    recency_bias=True,
                    distance_scaled_feedback=True,
                ),
                base.OpChoice(f"node{k}_activation", "rnn_activation", 4),
            ]
        # enas_lm starts with one zero anchor standing for node 0.
        super().__init__(steps, initial_anchors=0 if self._format.searches_node0 else 1)

    @property
    def arc_label(self):
        return self.arc_format

    def get_config(self):
        return {"num_nodes": self.num_nodes, "arc_format": self.arc_format}

    def token_layout(self):
        """Where the child reads each decision in an arc tensor.

        Returns:
            A dict of np.int32 arrays:
            - `prev_positions` (N - 1,): arc position of `p_k`, k = 1 .. N - 1.
            - `act_positions` (N,): arc position of `f_k`; -1 means fixed tanh
              (node 0 in enas_lm).
            - `activation_table` (4,): format activation id → index in `ACTIVATIONS`.
        """
        k = np.arange(1, self.num_nodes)
        prev = 2 * k - 1 if self._format.searches_node0 else 2 * (k - 1)
        first = 0 if self._format.searches_node0 else -1
        table = [ACTIVATIONS.index(name) for name in self._format.activations]
        return {
            "prev_positions": prev.astype(np.int32),
            "act_positions": np.concatenate([[first], prev + 1]).astype(np.int32),
            "activation_table": np.asarray(table, np.int32),
        }

    def decode(self, arc):
        """Returns the `RNNCell` of a (validated) arc in this space's format."""
        arc = self.validate(arc)
        layout = self.token_layout()
        nodes = []
        for k, position in enumerate(layout["act_positions"]):
            inp = None if k == 0 else int(arc[layout["prev_positions"][k - 1]])
            act = "tanh" if position < 0 else self._format.activations[arc[position]]
            nodes.append((inp, act))
        return RNNCell(tuple(nodes))

    def encode(self, cell):
        """Returns the np.int32 arc of `cell` in this space's format.

        Raises:
            TypeError: if `cell` is not an `RNNCell`.
            ValueError: if its node count differs from `num_nodes`, or node 0 is not
                tanh and the format cannot express that (enas_lm).
        """
        if not isinstance(cell, RNNCell):
            raise TypeError(f"`cell` must be an RNNCell. Received: {type(cell).__name__}")
        if len(cell.nodes) != self.num_nodes:
            raise ValueError(
                f"`cell` has {len(cell.nodes)} nodes but this space has num_nodes={self.num_nodes}."
            )
        if not self._format.searches_node0 and cell.nodes[0][1] != "tanh":
            raise ValueError(
                f"The {self.arc_format} format fixes node 0 to tanh, but this "
                f"cell's node 0 uses {cell.nodes[0][1]}."
            )
        layout = self.token_layout()
        arc = np.zeros(self.arc_length, np.int32)
        for k, (inp, act) in enumerate(cell.nodes):
            if k > 0:
                arc[layout["prev_positions"][k - 1]] = inp
            if layout["act_positions"][k] >= 0:
                arc[layout["act_positions"][k]] = self._format.activations.index(act)
        return self.validate(arc)

    def convert(self, arc, arc_format):
        """Rewrites an arc of this space in `arc_format` (same cell, same `num_nodes`).

        Raises:
            ValueError: if `arc` is invalid, `arc_format` unknown, or the cell
                cannot be written in `arc_format` (original node 0 not tanh → enas_lm).
        """
        target = RNNCellSpace(self.num_nodes, arc_format)
        cell = self.decode(arc)
        try:
            return target.encode(cell)
        except ValueError as error:
            raise ValueError(
                f"Cannot convert this {self.arc_format} arc to {arc_format}: {error}"
            ) from None
