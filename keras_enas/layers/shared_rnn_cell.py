"""`SharedRNNCell`: all candidate weights of the ENAS recurrent cell; runs the one an arc picks."""

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_enas.layers import highway_recurrence

__all__ = ["OUTPUT_MODES", "SharedRNNCell"]

OUTPUT_MODES = ("loose_ends", "all_nodes")
_LAYOUT_KEYS = ("prev_positions", "act_positions", "activation_table")


def _as_layout(token_layout, num_nodes):
    """Reads `token_layout` (a space or its dict) into validated np.int32 arrays."""
    if hasattr(token_layout, "token_layout"):
        token_layout = token_layout.token_layout()
    if not isinstance(token_layout, dict) or set(_LAYOUT_KEYS) - set(token_layout):
        raise TypeError(
            "`token_layout` must be an RNNCellSpace or a dict with keys "
            f"{_LAYOUT_KEYS}. Received: {token_layout!r}"
        )
    layout = {key: np.asarray(token_layout[key], np.int32) for key in _LAYOUT_KEYS}
    if (
        layout["prev_positions"].shape != (num_nodes - 1,)
        or layout["act_positions"].shape != (num_nodes,)
        or layout["activation_table"].shape != (highway_recurrence.NUM_ACTIVATIONS,)
    ):
        raise ValueError(
            f"`token_layout` does not describe a {num_nodes}-node cell. Received "
            f"shapes: { {k: v.shape for k, v in layout.items()} }"
        )
    return layout


def _fill_uniform(variable, init_range, chunk_bytes=2**22):
    """Fills a zero-initialised bank with U[−r, r] a few rows at a time.

    An initializer would build the whole bank, plus temporaries, next to the
    variable: ~3x its size in peak memory (6 GB for the paper's 2 GB bank).
    `scatter_update` writes in place, so the peak stays at the bank plus one chunk.
    """
    rows = variable.shape[0]
    step = max(1, chunk_bytes // (4 * int(np.prod(variable.shape[1:]))))
    for start in range(0, rows, step):
        size = min(step, rows - start)
        values = keras.random.uniform(
            (size,) + tuple(variable.shape[1:]), -init_range, init_range, dtype=variable.dtype
        )
        variable.value.scatter_update(tf.IndexedSlices(values, tf.range(start, start + size)))


class SharedRNNCell(keras.layers.Layer):
    """The shared weights ω of the ENAS recurrent cell (ENAS §2.1; reference §2(a)).

    Node 0 reads `[x_t, h_{t-1}]` through `W_prev` (2H × 2H, one per node-0
    activation when the arc format searches it). Node k ≥ 1 reads one earlier node
    `j = p_k` through `W_{k,j,f}` (H × 2H). Every node is a highway unit
    `h_k = c ⊙ f_k(pre) + (1 − c) ⊙ h_j`, `(pre, gate) = h_j W`, `c = σ(gate)`.

    Only valid `(k, j)` pairs are stored: one bank `[P·A, H, 2H]`, `P = N(N−1)/2`,
    `A = 4` activations (`share_by_activation=True`, what both codes do) or `A = 1`
    (the paper's per-pair sharing). A step gathers its `N − 1` matrices once, so the
    bank's gradient is an `IndexedSlices` and SGD touches only those slices.

    Args:
        num_nodes: N, nodes in the cell including node 0 (>= 2).
        hidden_size: H, the state size (>= 1).
        token_layout: an `RNNCellSpace`, or its `token_layout()` dict, saying where
            each decision sits in an arc.
        share_by_activation: whether each activation has its own matrices.
        output_mode: `"loose_ends"` (average of the nodes no later node reads, the
            paper) or `"all_nodes"` (average of nodes 1..N−1, enas_lm GPU code).
        init_range: weights start U[−init_range, init_range].
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(B, T, H)` cell inputs `x_t`.
        state: `(B, H)` the state `h_{t−1}` before the first step.
        arc: int32 `(arc_length,)` architecture tensor (a valid arc of the space).
        input_mask: optional `(B, H)` variational mask on `x_t` (enas_lm `drop_x`).
        recurrent_mask: optional `(B, H)` variational mask on the state fed to every
            node (enas_lm `drop_l`).
        weights: optional `selected_weights(decode_arc(arc))`, gathered by the caller
            so that `l2_penalty(arc, weights)` reuses them (one gather, one gradient).

    Returns:
        `(outputs, new_state)`: `(B, T, H)` and `(B, H)`.

    Raises:
        ValueError / TypeError: on bad sizes, output mode or token layout.

    Example:
    >>> space = RNNCellSpace(num_nodes=4, arc_format="enas_lm")
    >>> cell = SharedRNNCell(4, 8, space)
    >>> out, state = cell(tf.zeros((2, 3, 8)), tf.zeros((2, 8)), space.random_arc(0))
    >>> out.shape, state.shape
    (TensorShape([2, 3, 8]), TensorShape([2, 8]))
    """

    def __init__(
        self,
        num_nodes: int,
        hidden_size: int,
        token_layout: Any,
        share_by_activation: bool = True,
        output_mode: str = "loose_ends",
        init_range: float = 0.04,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("num_nodes", num_nodes), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
        if num_nodes < 2:
            raise ValueError(f"`num_nodes` must be >= 2. Received: num_nodes={num_nodes}")
        if hidden_size < 1:
            raise ValueError(f"`hidden_size` must be >= 1. Received: hidden_size={hidden_size}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(
                f"`output_mode` must be one of {OUTPUT_MODES}. "
                f"Received: output_mode={output_mode!r}"
            )
        if not init_range >= 0:
            raise ValueError(f"`init_range` must be >= 0. Received: init_range={init_range}")
        self.num_nodes, self.hidden_size = int(num_nodes), int(hidden_size)
        self.layout = _as_layout(token_layout, self.num_nodes)
        self.share_by_activation = bool(share_by_activation)
        self.output_mode, self.init_range = output_mode, float(init_range)
        acts = highway_recurrence.NUM_ACTIVATIONS if self.share_by_activation else 1
        self.num_bank_activations = acts
        self.num_node0_activations = acts if self.layout["act_positions"][0] >= 0 else 1
        self.num_pairs = self.num_nodes * (self.num_nodes - 1) // 2
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        init = keras.initializers.RandomUniform(-self.init_range, self.init_range)
        h = self.hidden_size
        # No autocast: `.value` is the float32 tf.Variable even under mixed precision,
        # so a step gathers its rows sparsely and casts only those (`call`).
        self.w_prev = self.add_weight(
            shape=(self.num_node0_activations, 2 * h, 2 * h),
            initializer=init,
            name="w_prev",
            autocast=False,
        )
        self.w_skip = self.add_weight(
            shape=(self.num_pairs * self.num_bank_activations, h, 2 * h),
            initializer="zeros",
            name="w_skip",
            autocast=False,
        )
        _fill_uniform(self.w_skip, self.init_range)
        self.built = True

    def decode_arc(self, arc):
        """Reads an arc tensor into what the cell runs (static shapes, any valid arc).

        Returns:
            A dict of tensors: `prev` int32 `(N−1,)` input node of nodes 1..N−1;
            `acts` int32 `(N,)` canonical activation indices; `bank_index` int32
            `(N−1,)` rows of `w_skip`; `node0_index` int32 `(1,)` row of `w_prev`;
            `out_weights` `(N,)` weight of each node in the output average.
        """
        arc = tf.cast(tf.convert_to_tensor(arc), tf.int32)
        lay, n = self.layout, self.num_nodes
        prev = tf.gather(arc, lay["prev_positions"])  # p_k, k = 1..N-1
        ks = np.arange(1, n, dtype=np.int32)
        tf.debugging.assert_less(prev, ks, message="arc: node k must read a node j < k")
        positions = np.maximum(lay["act_positions"], 0)
        acts = tf.gather(lay["activation_table"], tf.gather(arc, positions))
        acts = tf.where(lay["act_positions"] >= 0, acts, 0)  # enas_lm: node 0 is tanh
        pair = ks * (ks - 1) // 2 + prev  # index of the valid pair (k, j)
        if self.num_bank_activations > 1:
            bank_index = pair * self.num_bank_activations + acts[1:]
            node0_index = acts[:1] if self.num_node0_activations > 1 else tf.zeros([1], tf.int32)
        else:
            bank_index, node0_index = pair, tf.zeros([1], tf.int32)
        if self.output_mode == "loose_ends":  # ENAS §2.1: h_t = mean of unused nodes
            used = tf.reduce_max(tf.one_hot(prev, n, dtype=self.compute_dtype), axis=0)
            loose = 1.0 - used
            out_weights = loose / tf.reduce_sum(loose)
        else:  # enas_lm GPU: mean of nodes 1..N-1
            out_weights = tf.constant([0.0] + [1.0 / (n - 1)] * (n - 1), self.compute_dtype)
        return {
            "prev": prev,
            "acts": acts,
            "bank_index": bank_index,
            "node0_index": node0_index,
            "out_weights": out_weights,
        }

    def selected_weights(self, decoded):
        """`(W_prev (2H, 2H), W_nodes (N−1, H, 2H))` gathered once for the whole sequence."""
        # `.value` is the tf.Variable: `tf.gather` then emits ResourceGather, which reads
        # only the selected rows (gathering the Keras Variable would read the whole bank).
        w0 = tf.reshape(
            tf.gather(self.w_prev.value, decoded["node0_index"]),
            [2 * self.hidden_size, 2 * self.hidden_size],
        )
        return w0, tf.gather(self.w_skip.value, decoded["bank_index"])

    def call(self, inputs, state, arc, input_mask=None, recurrent_mask=None, weights=None):
        decoded = self.decode_arc(arc)
        if weights is None:
            weights = self.selected_weights(decoded)
        # Variables stay float32; the cell computes in the policy's dtype.
        w0, w_nodes = (tf.cast(w, self.compute_dtype) for w in weights)
        h = self.hidden_size
        inputs = tf.cast(inputs, self.compute_dtype)
        state = tf.cast(state, self.compute_dtype)
        if input_mask is not None:
            inputs = inputs * input_mask[:, None, :]  # drop_x, fixed across time
        if recurrent_mask is None:
            recurrent_mask = tf.ones_like(state)
        x = tf.transpose(inputs, [1, 0, 2])  # (T, B, H)
        # x-part of node 0 for all T at once: one big matmul before the loop.
        xw = tf.reshape(tf.matmul(tf.reshape(x, [-1, h]), w0[:h]), [tf.shape(x)[0], -1, 2 * h])
        outputs = highway_recurrence.highway_recurrence(
            xw,
            state,
            w0[h:],
            w_nodes,
            recurrent_mask,
            decoded["prev"],
            decoded["acts"],
            decoded["out_weights"],
        )  # (T, B, H)
        return tf.transpose(outputs, [1, 0, 2]), outputs[-1]

    def l2_penalty(self, arc, weights=None):
        """`Σ w²` over the matrices `arc` uses (W_prev and its N−1 bank slices).

        A deliberate departure: the original code decays every variable every step;
        here only the selected slices are penalised, so the gradient stays an
        `IndexedSlices` and SGD touches only them (a slice decays only on the steps
        that use it). Pass the `weights` given to `call` (`selected_weights`) to reuse
        its gather: the bank's gradient is then one `IndexedSlices` of N−1 rows and no
        second (N−1, H, 2H) copy lives through the backward pass (84 MB at paper size).
        Without them the rows are gathered again and the gradient holds each row twice
        (`scatter_sub` sums them; the clip's norm over-counts by at most the L2 term).
        """
        w0, w_nodes = (
            weights if weights is not None else self.selected_weights(self.decode_arc(arc))
        )
        return tf.reduce_sum(tf.square(w0)) + tf.reduce_sum(tf.square(w_nodes))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_nodes=self.num_nodes,
            hidden_size=self.hidden_size,
            token_layout={k: v.tolist() for k, v in self.layout.items()},
            share_by_activation=self.share_by_activation,
            output_mode=self.output_mode,
            init_range=self.init_range,
        )
        return config
