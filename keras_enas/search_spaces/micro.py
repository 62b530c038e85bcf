"""The CIFAR-10 micro search space (ENAS §2.4): normal + reduce cells and `MicroCells`."""

import dataclasses

import numpy as np

from keras_enas.search_spaces import base, limits, space

__all__ = ["Cell", "CELL_TYPES", "MICRO_OPS", "MicroCells", "MicroSpace"]

# Original op ids 0..4 (micro_child.py).
MICRO_OPS = ("sep3", "sep5", "avgpool3", "maxpool3", "identity")
CELL_TYPES = ("normal", "reduce")
# micro_controller.py: tanh constant / op_tanh_reduce (2.5 in the scripts), learnable
# logit bias initialised to [10, 10, 0, 0, 0], fixed bias for the normal cell only.
_OP_TANH_SCALE = 1.0 / 2.5
_OP_BIAS_INIT = (10.0, 10.0, 0.0, 0.0, 0.0)
_NORMAL_FIXED_BIAS = (0.25, 0.25, -0.25, -0.25, -0.25)
_SAMPLED_TO_STORED = (0, 2, 1, 3)  # sampled x_id, y_id, x_op, y_op → stored x_id, x_op, ...


@dataclasses.dataclass(frozen=True)
class Cell:
    """One decoded cell. Nodes 0 and 1 are the cell inputs (outputs of cells i-2, i-1).

    Args:
        nodes: one `((x_input, x_op), (y_input, y_op))` per decided node b = 2, 3, ...;
            inputs are ints in `[0, b)`, ops names from `MICRO_OPS`. Node b is
            `x_op(x_input) + y_op(y_input)`.

    Raises:
        ValueError: if an input or op is invalid.
    """

    nodes: tuple

    def __post_init__(self):
        nodes = []
        for b, pair in enumerate(self.nodes, start=2):
            node = []
            for inp, op in pair:
                if (
                    isinstance(inp, bool)
                    or not isinstance(inp, (int, np.integer))
                    or not (0 <= inp < b)
                ):
                    raise ValueError(
                        f"Node {b} inputs must be integers in [0, {b - 1}]. Received: {inp!r}"
                    )
                if op not in MICRO_OPS:
                    raise ValueError(f"Node {b} ops must be in {MICRO_OPS}. Received: {op!r}")
                node.append((int(inp), op))
            if len(node) != 2:
                raise ValueError(
                    f"Node {b} must have exactly 2 (input, op) pairs. Received: {len(node)}"
                )
            nodes.append(tuple(node))
        object.__setattr__(self, "nodes", tuple(nodes))

    @property
    def loose_ends(self):
        """Nodes no later node uses, the unused inputs 0/1 included; the cell concatenates them."""
        used = {inp for pair in self.nodes for inp, _ in pair}
        return tuple(b for b in range(len(self.nodes) + 2) if b not in used)

    def to_dict(self):
        return {
            "nodes": [
                {"node": b, "x": {"input": x[0], "op": x[1]}, "y": {"input": y[0], "op": y[1]}}
                for b, (x, y) in enumerate(self.nodes, start=2)
            ],
            "loose_ends": list(self.loose_ends),
        }

    def __str__(self):
        rows = [
            f"{b:>4}  {x[1]}({x[0]}) + {y[1]}({y[0]})"
            for b, (x, y) in enumerate(self.nodes, start=2)
        ]
        rows.append(f"{'out':>4}  concat({', '.join(map(str, self.loose_ends))})")
        return "\n".join(rows)


@dataclasses.dataclass(frozen=True)
class MicroCells:
    """The printable Architecture of a micro arc: a normal cell and a reduction cell."""

    normal: Cell
    reduce: Cell

    def to_dict(self):
        return {"normal": self.normal.to_dict(), "reduce": self.reduce.to_dict()}

    def __str__(self):
        return f"normal cell:\n{self.normal}\nreduce cell:\n{self.reduce}"


class MicroSpace(space.SearchSpace):
    """ENAS micro space: a normal cell then a reduction cell of `num_nodes` decided nodes.

    Arc: per cell, per node b = 2 .. B-1, `[x_id, x_op, y_id, y_op]`; the normal cell
    first; length 8 * num_nodes. The controller samples each node's tokens in the
    order x_id, y_id, x_op, y_op: `sample_order[i]` is the arc position of the i-th
    sampled token, so `arc[sample_order] == sampled` (the permutation is its own
    inverse, so also `sampled[sample_order] == arc`).

    Each cell's sampler starts with two warm-up anchor steps for inputs 0 and 1
    (zero anchors; the first also resets the anchor list, `reset_anchors=True`), as
    `micro_controller._build_sampler` does; the reduce cell continues from the
    normal cell's LSTM state but attends only over its own anchors.

    Args:
        num_nodes: decided nodes per cell (B = num_nodes + 2; ENAS uses 5).

    Raises:
        ValueError: if `num_nodes` is outside [1, 16] (`limits.MICRO_NUM_NODES`).
        TypeError: if `num_nodes` is not an int.

    Example:
    >>> micro = MicroSpace(num_nodes=1)
    >>> print(micro.decode(micro.parse("0 2 1 0 1 1 1 4")).reduce)
       2  sep5(1) + identity(1)
     out  concat(0, 2)
    """

    name = "micro"

    def __init__(self, num_nodes=5):
        self.num_nodes = limits.check_size("num_nodes", num_nodes, limits.MICRO_NUM_NODES)
        steps = []
        for cell in CELL_TYPES:
            steps += [
                base.AnchorStep(
                    f"{cell}_input0", zero_anchor=True, reset_input=True, reset_anchors=True
                ),
                base.AnchorStep(f"{cell}_input1", zero_anchor=True, reset_input=True),
            ]
            fixed_bias = _NORMAL_FIXED_BIAS if cell == "normal" else None
            for b in range(2, self.num_nodes + 2):
                steps += [base.InputChoice(f"{cell}_node{b}_{i}", num_anchors=b) for i in "xy"]
                steps += [
                    base.OpChoice(
                        f"{cell}_node{b}_{i}_op",
                        "micro_op",
                        len(MICRO_OPS),
                        tanh_constant_scale=_OP_TANH_SCALE,
                        bias_init=_OP_BIAS_INIT,
                        fixed_bias=fixed_bias,
                    )
                    for i in "xy"
                ]
                steps.append(base.AnchorStep(f"{cell}_node{b}", reset_input=True))
        groups = 4 * np.arange(2 * self.num_nodes)[:, None]
        super().__init__(
            steps, initial_anchors=0, sample_order=(groups + np.asarray(_SAMPLED_TO_STORED)).ravel()
        )

    def get_config(self):
        return {"num_nodes": self.num_nodes}

    def token_layout(self):
        """Where the child reads each decision in an arc tensor.

        Returns:
            A dict of np.int32 arrays of shape (2, num_nodes, 2), indexed
            `[cell (0 normal, 1 reduce), node b - 2, x/y]`:
            - `input_positions`: arc position of the input id.
            - `op_positions`: arc position of the op id.
        """
        base_positions = 4 * np.arange(2 * self.num_nodes).reshape(2, self.num_nodes, 1)
        return {
            "input_positions": (base_positions + [0, 2]).astype(np.int32),
            "op_positions": (base_positions + [1, 3]).astype(np.int32),
        }

    def decode(self, arc):
        """Returns the `MicroCells` of a (validated) arc."""
        arc = self.validate(arc).reshape(2, self.num_nodes, 2, 2)  # cell, node, x/y, id/op
        cells = [
            Cell(tuple(tuple((int(inp), MICRO_OPS[op]) for inp, op in node) for node in cell))
            for cell in arc
        ]
        return MicroCells(*cells)

    def encode(self, cells):
        """Returns the np.int32 arc of a `MicroCells`.

        Raises:
            TypeError: if `cells` is not a `MicroCells`.
            ValueError: if a cell's node count differs from `num_nodes`.
        """
        if not isinstance(cells, MicroCells):
            raise TypeError(f"`cells` must be a MicroCells. Received: {type(cells).__name__}")
        tokens = []
        for name, cell in zip(CELL_TYPES, (cells.normal, cells.reduce)):
            if len(cell.nodes) != self.num_nodes:
                raise ValueError(
                    f"The {name} cell has {len(cell.nodes)} nodes but this space "
                    f"has num_nodes={self.num_nodes}."
                )
            tokens += [
                t for node in cell.nodes for inp, op in node for t in (inp, MICRO_OPS.index(op))
            ]
        return self.validate(tokens)
