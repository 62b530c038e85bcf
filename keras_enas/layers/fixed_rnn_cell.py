"""`FixedRNNCell`: one found ENAS recurrent cell as an ordinary Keras RNN cell (final training)."""

import keras
import numpy as np
from keras import ops

# Keras' variational-mask mixin: one dropout mask per sequence, reset by `keras.layers.RNN`.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

__all__ = ["FixedRNNCell", "OUTPUT_MODES"]

# Canonical activation names (= `search_spaces.rnn.ACTIVATIONS`).
_ACTIVATIONS = {"tanh": ops.tanh, "relu": ops.relu, "identity": lambda x: x, "sigmoid": ops.sigmoid}
OUTPUT_MODES = ("loose_ends", "all_nodes")


def _check_nodes(nodes):
    """Reads `nodes` (an `RNNCell`'s `.nodes` or JSON lists) into `((input, activation), ...)`."""
    nodes = getattr(nodes, "nodes", nodes)
    try:
        nodes = tuple((None if inp is None else int(inp), str(act)) for inp, act in nodes)
    except (TypeError, ValueError):
        raise TypeError(
            "`nodes` must be a sequence of (input_node, activation) pairs. "
            f"Received: nodes={nodes!r}"
        ) from None
    if len(nodes) < 2:
        raise ValueError(f"`nodes` must hold >= 2 nodes. Received: {len(nodes)} nodes")
    for k, (inp, act) in enumerate(nodes):
        if act not in _ACTIVATIONS:
            raise ValueError(
                f"Node {k} activation must be one of {tuple(_ACTIVATIONS)}. Received: {act!r}"
            )
        if (k == 0) != (inp is None) or (k > 0 and not 0 <= inp < k):
            raise ValueError(
                f"Node {k} input must be {'None' if k == 0 else f'in [0, {k - 1}]'}."
                f" Received: {inp!r}"
            )
    return nodes


@keras.saving.register_keras_serializable(package="keras_enas")
class FixedRNNCell(keras.layers.Layer, DropoutRNNCell):
    """The ENAS recurrent cell of ONE architecture: only its chosen edges and activations.

    Node 0 reads `[x_t ⊙ m_x, h_{t−1} ⊙ m_h]` through `W_prev` (2H × 2H); node k ≥ 1
    reads its chosen node `j` through its own `W_k` (H × 2H). Every node is a highway
    unit (ENAS §2.1): `(pre, gate) = input W`, `c = σ(gate)`,
    `h_k = c ⊙ f_k(pre) + (1 − c) ⊙ h_j`. The output, also the next state `h_t`, is
    the mean of the loose ends (`output_mode="loose_ends"`, the paper) or of nodes
    1..N−1 (`"all_nodes"`, the enas_lm GPU code). No weight banks, no switches: this
    is what the final model trains and exports. Use it with `keras.layers.RNN`.

    Args:
        nodes: the architecture: `(input_node, activation)` per node, node 0's input
            None (an `RNNCell` from `space.decode(arc)`, or its `.nodes`).
        hidden_size: H; the input size must equal H too (node 0's `W_prev` is 2H × 2H).
        output_mode: `"loose_ends"` or `"all_nodes"`.
        init_range: weights start U[−init_range, init_range].
        dropout: variational dropout probability on `x_t` (enas_lm `drop_x`; the
            original code's `x`), one mask per sequence.
        recurrent_dropout: variational dropout probability on the state fed to every
            node (enas_lm `drop_l`; the original `h`), one mask per sequence.
        seed: int seed of the dropout masks.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(B, H)` the step input `x_t`.
        states: `[h_{t−1}]`, one `(B, H)` tensor.
        training: whether to apply dropout.

    Returns:
        `(h_t, [h_t])`.

    Raises:
        ValueError / TypeError: on bad nodes, sizes, output mode or rates.

    Example:
    >>> cell = FixedRNNCell([(None, "tanh"), (0, "relu"), (0, "sigmoid")], hidden_size=8)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(rnn(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        nodes,
        hidden_size,
        output_mode="loose_ends",
        init_range=0.04,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.nodes = _check_nodes(nodes)
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, (int, np.integer)):
            raise TypeError(f"`hidden_size` must be an int. Received: hidden_size={hidden_size!r}")
        if hidden_size < 1:
            raise ValueError(f"`hidden_size` must be >= 1. Received: hidden_size={hidden_size}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(
                f"`output_mode` must be one of {OUTPUT_MODES}. "
                f"Received: output_mode={output_mode!r}"
            )
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={rate}")
        self.hidden_size, self.output_mode = int(hidden_size), output_mode
        self.init_range, self.seed = float(init_range), seed
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = self.output_size = self.hidden_size
        used = {inp for inp, _ in self.nodes[1:]}
        if output_mode == "loose_ends":  # ENAS §2.1: h_t = mean of the unused nodes
            self.averaged = tuple(k for k in range(len(self.nodes)) if k not in used)
        else:
            self.averaged = tuple(range(1, len(self.nodes)))

    @property
    def loose_ends(self):
        """The nodes no later node reads."""
        used = {inp for inp, _ in self.nodes[1:]}
        return tuple(k for k in range(len(self.nodes)) if k not in used)

    def build(self, input_shape):
        if input_shape[-1] != self.hidden_size:
            raise ValueError(
                f"The input size must equal `hidden_size`={self.hidden_size}. "
                f"Received: input_shape={input_shape}"
            )
        init = keras.initializers.RandomUniform(-self.init_range, self.init_range)
        h = self.hidden_size
        self.w_prev = self.add_weight(shape=(2 * h, 2 * h), initializer=init, name="w_prev")
        self.w_nodes = [
            self.add_weight(shape=(h, 2 * h), initializer=init, name=f"w_node{k}")
            for k in range(1, len(self.nodes))
        ]

    def _highway(self, z, h_in, activation):
        pre, gate = ops.split(z, 2, axis=-1)
        c = ops.sigmoid(gate)
        return h_in + c * (_ACTIVATIONS[activation](pre) - h_in)  # c f(pre) + (1 - c) h_in

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x_mask = self.get_dropout_mask(inputs) if training else None
        h_mask = self.get_recurrent_dropout_mask(h_prev) if training else None

        def masked(v, mask):
            return v if mask is None else v * mask

        z = ops.matmul(
            ops.concatenate([masked(inputs, x_mask), masked(h_prev, h_mask)], -1), self.w_prev
        )  # (B, 2H); ENAS §2.1: node 0 reads x_t and h_{t-1}
        values = [self._highway(z, h_prev, self.nodes[0][1])]
        for k, (j, activation) in enumerate(self.nodes[1:], start=1):
            z = ops.matmul(masked(values[j], h_mask), self.w_nodes[k - 1])
            values.append(self._highway(z, values[j], activation))
        out = values[self.averaged[0]]
        for k in self.averaged[1:]:
            out = out + values[k]
        out = out / float(len(self.averaged))  # (B, H)
        return out, [out]

    def get_config(self):
        config = super().get_config()
        config.update(
            nodes=[list(node) for node in self.nodes],
            hidden_size=self.hidden_size,
            output_mode=self.output_mode,
            init_range=self.init_range,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
        )
        return config
