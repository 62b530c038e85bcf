"""The CIFAR-10 macro search space (ENAS §2.3): whole L-layer networks and `MacroNetwork`."""

import dataclasses

import numpy as np

from keras_enas.search_spaces import base, limits, space

__all__ = ["MACRO_OPS", "MacroNetwork", "MacroSpace", "node_name", "pool_layers"]

# Original op ids 0..5 (general_child.py).
MACRO_OPS = ("conv3", "sep3", "conv5", "sep5", "avgpool3", "maxpool3")


def node_name(node):
    """Node j of the child's `prev` list: 0 is `"stem"`, j > 0 is `"o{j-1}"` (layer j-1)."""
    return "stem" if node == 0 else f"o{node - 1}"


def _node_index(name, layer):
    if name == "stem":
        return 0
    if isinstance(name, str) and name[:1] == "o" and name[1:].isdigit():
        return int(name[1:]) + 1
    raise ValueError(f"Layer {layer} skip inputs must be 'stem' or 'oK'. Received: {name!r}")


def pool_layers(num_layers):
    """Layers followed by a factorized reduction: `(L//3 - 1, 2*(L//3) - 1)` as in the code."""
    distance = num_layers // 3
    return (distance - 1, 2 * distance - 1)


@dataclasses.dataclass(frozen=True)
class MacroNetwork:
    """A decoded macro network: the printable Architecture of a macro arc.

    Layer k applies its op to its main input (`o{k-1}`, or the stem for k = 0) and
    adds its skip inputs. Skip inputs are node names: `"stem"` or `"oJ"` (output of
    layer J); layer k may skip to the stem and `o0 .. o{k-2}` (enas-reference.md
    §2(b): skip bit j of layer k means node j, node 0 being the stem).

    Args:
        layers: sequence of `(op, skips)` pairs, `op` from `MACRO_OPS`, `skips` a
            collection of node names (stored sorted by node).

    Raises:
        ValueError: if an op or a skip input is invalid.

    Example:
    >>> MacroNetwork((("conv3", ()), ("sep5", ("stem",)))).num_skips
    1
    """

    layers: tuple

    def __post_init__(self):
        layers = []
        for k, (op, skips) in enumerate(self.layers):
            if op not in MACRO_OPS:
                raise ValueError(f"Layer {k} op must be one of {MACRO_OPS}. Received: {op!r}")
            nodes = sorted({_node_index(name, k) for name in skips})
            if nodes and nodes[-1] >= k:
                raise ValueError(
                    f"Layer {k} may only skip to stem .. o{k - 2}. "
                    f"Received: {node_name(nodes[-1])!r}"
                )
            layers.append((op, tuple(node_name(j) for j in nodes)))
        if not layers:
            raise ValueError("`layers` must not be empty.")
        object.__setattr__(self, "layers", tuple(layers))

    @property
    def pool_layers(self):
        """Layers after which a factorized reduction follows."""
        return pool_layers(len(self.layers))

    @property
    def num_skips(self):
        return sum(len(skips) for _, skips in self.layers)

    def to_dict(self):
        """Returns a JSON-ready dict: per-layer op, main input and skips; pool layers."""
        return {
            "layers": [
                {"layer": k, "op": op, "input": node_name(k), "skips": list(skips)}
                for k, (op, skips) in enumerate(self.layers)
            ],
            "pool_layers": list(self.pool_layers),
        }

    def __str__(self):
        rows = [
            f"MacroNetwork: {len(self.layers)} layers, {self.num_skips} skips; "
            f"factorized reduction after layers {self.pool_layers}",
            "layer  op        input  skips",
        ]
        for k, (op, skips) in enumerate(self.layers):
            pool = "  -> pool" if k in self.pool_layers else ""
            rows.append(f"{k:>5}  {op:<8}  {node_name(k):<5}  {', '.join(skips) or '-'}{pool}")
        return "\n".join(rows)


class MacroSpace(space.SearchSpace):
    """ENAS macro space: per layer one of 6 ops plus skip bits to every earlier node.

    Arc: `[op_0 | op_1, s_1,0 | op_2, s_2,0, s_2,1 | ...]`, length L + L(L-1)/2.

    Args:
        num_layers: L (12 in the paper's search, 24 in `cifar10_macro_final.sh`).

    Raises:
        ValueError: if `num_layers` is outside [3, 64] (`limits.MACRO_NUM_LAYERS`; two
            reduction stages need L // 3 >= 1).
        TypeError: if `num_layers` is not an int.

    Example:
    >>> macro = MacroSpace(num_layers=3)
    >>> macro.decode(macro.parse("0 3 1 2 0 1")).layers
    (('conv3', ()), ('sep5', ('stem',)), ('conv5', ('o0',)))
    """

    name = "macro"

    def __init__(self, num_layers=12):
        self.num_layers = limits.check_size("num_layers", num_layers, limits.MACRO_NUM_LAYERS)
        self.pool_layers = pool_layers(self.num_layers)
        steps = []
        for k in range(self.num_layers):
            steps.append(base.OpChoice(f"layer{k}_op", "macro_op", len(MACRO_OPS)))
            if k == 0:
                steps.append(base.AnchorStep("layer0", reset_input=True))
            else:
                steps.append(
                    base.SkipChoice(f"layer{k}_skips", num_anchors=k, register_anchor=True)
                )
        super().__init__(steps, initial_anchors=0)

    def get_config(self):
        return {"num_layers": self.num_layers}

    def token_layout(self):
        """Where the child reads each decision in an arc tensor.

        Returns:
            A dict of np.int32 arrays:
            - `op_positions` (L,): arc position of `op_k`.
            - `skip_positions` (L, L): `[k, j]` is the position of skip bit j of
              layer k (node j: stem for j = 0, else `o{j-1}`), -1 where j >= k.
        """
        k = np.arange(self.num_layers)
        ops = k + k * (k - 1) // 2
        skips = np.full((self.num_layers, self.num_layers), -1, np.int32)
        for layer in range(1, self.num_layers):
            skips[layer, :layer] = ops[layer] + 1 + np.arange(layer)
        return {"op_positions": ops.astype(np.int32), "skip_positions": skips}

    def decode(self, arc):
        """Returns the `MacroNetwork` of a (validated) arc."""
        arc = self.validate(arc)
        layout = self.token_layout()
        layers = []
        for k, position in enumerate(layout["op_positions"]):
            bits = arc[layout["skip_positions"][k, :k]]
            layers.append(
                (MACRO_OPS[arc[position]], tuple(node_name(j) for j in np.flatnonzero(bits)))
            )
        return MacroNetwork(tuple(layers))

    def encode(self, network):
        """Returns the np.int32 arc of a `MacroNetwork` with `num_layers` layers.

        Raises:
            TypeError: if `network` is not a `MacroNetwork`.
            ValueError: if its layer count differs from `num_layers`.
        """
        if not isinstance(network, MacroNetwork):
            raise TypeError(f"`network` must be a MacroNetwork. Received: {type(network).__name__}")
        if len(network.layers) != self.num_layers:
            raise ValueError(
                f"`network` has {len(network.layers)} layers but this space has "
                f"num_layers={self.num_layers}."
            )
        layout = self.token_layout()
        arc = np.zeros(self.arc_length, np.int32)
        for k, (op, skips) in enumerate(network.layers):
            arc[layout["op_positions"][k]] = MACRO_OPS.index(op)
            for name in skips:
                arc[layout["skip_positions"][k, _node_index(name, k)]] = 1
        return self.validate(arc)

    def random_arc(self, rng=None, skip_prob=0.4):
        """Samples uniform ops and independent skip bits (ENAS §3.3 random baseline).

        Args:
            rng: `np.random.Generator`, an int seed, or None.
            skip_prob: probability that each skip bit is on; the paper's guided
                random search uses 0.4, and 0.5 samples arcs uniformly.

        Returns:
            An np.int32 arc.

        Raises:
            ValueError: if `skip_prob` is not in [0, 1].
        """
        if not 0.0 <= skip_prob <= 1.0:
            raise ValueError(f"`skip_prob` must be in [0, 1]. Received: skip_prob={skip_prob}")
        rng = np.random.default_rng(rng)
        arc = (rng.random(self.arc_length) < skip_prob).astype(np.int32)
        ops = self.token_layout()["op_positions"]
        arc[ops] = rng.integers(0, len(MACRO_OPS), size=len(ops))
        return arc
