"""The ENAS highway-cell recurrence over time, with a hand-written BPTT (the child's hot loop)."""

import tensorflow as tf

__all__ = ["activate", "highway_recurrence", "NUM_ACTIVATIONS"]

# Canonical activation order (= `search_spaces.rnn.ACTIVATIONS`): tanh, relu, identity, sigmoid.
NUM_ACTIVATIONS = 4


def activate(pre, act):
    """`(f(pre), f'(pre))` for the canonical activation index `act`; one branch runs."""

    def tanh():
        a = tf.tanh(pre)
        return a, 1.0 - a * a

    def relu():
        return tf.nn.relu(pre), tf.cast(pre > 0, pre.dtype)

    def sigmoid():
        a = tf.sigmoid(pre)
        return a, a * (1.0 - a)

    return tf.switch_case(act, [tanh, relu, lambda: (pre, tf.ones_like(pre)), sigmoid])


def _select(nodes, index):
    """`nodes[index]` for a scalar int tensor, without copying the candidates."""
    if len(nodes) == 1:
        return nodes[0]
    return tf.switch_case(index, [lambda j=j: nodes[j] for j in range(len(nodes))])


def _add_at(values, k, index, update):
    """`values[index] += update` for a scalar int tensor `index < k`, without copies."""
    if k == 1:
        return [values[0] + update] + values[1:]

    def branch(j):
        return lambda: [v + update if i == j else v for i, v in enumerate(values[:k])]

    return list(tf.switch_case(index, [branch(j) for j in range(k)])) + values[k:]


def _forward(xw, state, w_h0, w_nodes, mask, prev, acts, out_weights):
    """Runs the cell over time; also returns what the backward pass reads."""
    num_nodes = out_weights.shape[0]
    steps, hidden = tf.shape(xw)[0], state.shape[-1]

    def new_arrays(width):
        return [
            tf.TensorArray(xw.dtype, size=steps, element_shape=(state.shape[0], width))
            for _ in range(num_nodes)
        ]

    # Per node and time step: masked input (B, H), [c f'(pre), (f(pre) - h_in) c (1 - c)]
    # (B, 2H) = ∂h/∂(pre, gate), and 1 - c (B, H) = ∂h/∂h_in through the carry.
    saved = [new_arrays(hidden), new_arrays(2 * hidden), new_arrays(hidden)]

    def body(t, s, saved, outs):
        saved = [list(arrays) for arrays in saved]
        nodes = []
        for k in range(num_nodes):
            h_in = s if k == 0 else _select(nodes, prev[k - 1])  # (B, H)
            h_masked = h_in * mask  # drop_l, enas_lm §4.2
            if k == 0:  # ENAS §2.1: node 0 reads x_t and h_{t-1}.
                z = xw[t] + tf.matmul(h_masked, w_h0)  # (B, 2H)
            else:
                z = tf.matmul(h_masked, w_nodes[k - 1])
            pre, gate = tf.split(z, 2, axis=1)
            c = tf.sigmoid(gate)
            a, d_a = activate(pre, acts[k])
            diff = a - h_in
            nodes.append(h_in + c * diff)  # highway: c * f(pre) + (1 - c) * h_in
            one_minus_c = 1.0 - c
            d_z = tf.concat([c * d_a, diff * (c * one_minus_c)], axis=1)
            for i, value in enumerate((h_masked, d_z, one_minus_c)):
                saved[i][k] = saved[i][k].write(t, value)
        out = tf.tensordot(out_weights, tf.stack(nodes), 1)  # average of the chosen nodes
        return t + 1, out, saved, outs.write(t, out)

    outs = tf.TensorArray(xw.dtype, size=steps, element_shape=state.shape)
    _, _, saved, outs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), state, saved, outs)
    )
    return outs.stack(), saved


def _backward(d_outs, saved, w_h0, w_nodes, mask, prev, out_weights):
    """BPTT through the cell; weight gradients as one big matmul per node after the loop."""
    num_nodes = out_weights.shape[0]
    steps = tf.shape(d_outs)[0]
    batch, hidden = d_outs.shape[1], d_outs.shape[2]
    masked, dh_dz, carries = saved  # TensorArrays of the forward pass
    w_in = [w_h0] + tf.unstack(w_nodes)  # (H, 2H) each, used transposed: no copy

    def body(t, d_carry, d_zs):
        d_zs = list(d_zs)
        d_out = d_outs[t] + d_carry
        d_nodes = [out_weights[k] * d_out for k in range(num_nodes)]  # ∂L/∂h_k, (B, H) each
        for k in range(num_nodes - 1, -1, -1):  # reverse topological order
            d_h = d_nodes[k]
            d_z = tf.concat([d_h, d_h], axis=1) * dh_dz[k].read(t)  # (B, 2H): ∂(pre, gate)
            d_zs[k] = d_zs[k].write(t, d_z)
            d_in = d_h * carries[k].read(t) + tf.matmul(d_z, w_in[k], transpose_b=True) * mask
            if k == 0:
                d_carry = d_in
            else:
                d_nodes = _add_at(d_nodes, k, prev[k - 1], d_in)
        return t - 1, d_carry, d_zs

    d_zs = [
        tf.TensorArray(d_outs.dtype, size=steps, element_shape=(batch, 2 * hidden))
        for _ in range(num_nodes)
    ]
    _, d_state, d_zs = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, tf.zeros_like(d_outs[0]), d_zs)
    )
    d_w, d_z0 = [], None
    for k in range(num_nodes):  # one node at a time: only its stacked copies are live
        with tf.control_dependencies(d_w[-1:]):
            d_z = tf.reshape(d_zs[k].stack(), [-1, 2 * hidden])  # (T*B, 2H)
            x = tf.reshape(masked[k].stack(), [-1, hidden])  # (T*B, H)
        d_w.append(tf.matmul(x, d_z, transpose_a=True))
        d_z0 = d_z if k == 0 else d_z0
    d_xw = tf.reshape(d_z0, tf.shape(d_outs) * [1, 1, 2])  # (T, B, 2H)
    return d_xw, d_state, d_w[0], tf.stack(d_w[1:])


@tf.custom_gradient
def _recurrence(xw, state, w_h0, w_nodes, mask, prev, acts, out_weights):
    outputs, saved = _forward(xw, state, w_h0, w_nodes, mask, prev, acts, out_weights)
    # The closure keeps the forward TensorArrays; reads in `grad` copy nothing.

    def grad(d_outputs):
        d_xw, d_state, d_w_h0, d_w_nodes = _backward(
            d_outputs, saved, w_h0, w_nodes, mask, prev, out_weights
        )
        return d_xw, d_state, d_w_h0, d_w_nodes, None, None, None, None

    return outputs, grad


def highway_recurrence(xw, state, w_h0, w_nodes, mask, prev, acts, out_weights):
    """Runs the ENAS recurrent cell (highway DAG) over a whole sequence.

    Node 0: `(pre, gate) = x_t W_x + (h_{t-1} ⊙ m) W_h`; node k ≥ 1 with input
    `j = prev[k-1]`: `(pre, gate) = (h_j ⊙ m) W_k`. Every node is a highway unit
    `h_k = c ⊙ f_k(pre) + (1 − c) ⊙ h_in` with `c = σ(gate)` (ENAS §2.1; enas_lm
    `_rnn_fn`). The output, which is also the next state, is `Σ_k out_weights[k] h_k`.

    The gradient is hand-written (truncated BPTT): the backward loop only carries
    `∂/∂h`; the weight gradients are one `(T·B, H)ᵀ (T·B, 2H)` matmul per node
    after the loop, which is much faster on CPU than T small ones.

    Args:
        xw: `(T, B, 2H)` node 0's input part `x_t W_x` (time-major, already masked).
        state: `(B, H)` the state `h_{t-1}` before the first step.
        w_h0: `(H, 2H)` node 0's recurrent matrix `W_h`.
        w_nodes: `(N-1, H, 2H)` the matrix each node k ≥ 1 uses.
        mask: `(B, H)` variational dropout mask on every node's input (enas_lm
            `drop_l`); ones for no dropout.
        prev: int32 `(N-1,)`, the input node `j < k` of nodes 1..N-1.
        acts: int32 `(N,)`, each node's activation as an index into
            `("tanh", "relu", "identity", "sigmoid")`.
        out_weights: `(N,)` weight of each node in the output average.

    Returns:
        `(T, B, H)` cell outputs `h_t` for every step.

    Example:
    >>> h = highway_recurrence(tf.zeros((5, 2, 8)), tf.zeros((2, 4)), tf.zeros((4, 8)),
    ...                        tf.zeros((2, 4, 8)), tf.ones((2, 4)), tf.constant([0, 1]),
    ...                        tf.constant([0, 1, 0]), tf.constant([0.0, 0.0, 1.0]))
    >>> h.shape
    TensorShape([5, 2, 4])
    """
    args = [tf.convert_to_tensor(x) for x in (xw, state, w_h0, w_nodes, mask)]
    prev, acts = tf.cast(prev, tf.int32), tf.cast(acts, tf.int32)
    return _recurrence(*args, prev, acts, tf.cast(out_weights, args[0].dtype))
