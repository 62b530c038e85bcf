"""Tests for keras_enas.layers.shared_rnn_cell (and its BPTT in highway_recurrence)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.layers import highway_recurrence
from keras_enas.layers.shared_rnn_cell import SharedRNNCell
from keras_enas.search_spaces import rnn

PTB_FINAL = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"  # original format, N = 12
ENAS_LM_FINAL = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"  # enas_lm format, N = 9
NUMPY_ACTS = {
    "tanh": np.tanh,
    "relu": lambda v: np.maximum(v, 0),
    "identity": lambda v: v,
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
}


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def numpy_cell(cell, space, arc, x, state, input_mask=None, recurrent_mask=None):
    """Reference: the highway cell (ENAS §2.1) step by step, from the decoded cell."""
    decoded = space.decode(arc)
    h, pairs = cell.hidden_size, {}
    for k, (j, act) in enumerate(decoded.nodes[1:], start=1):  # bank row of (k, j, f)
        a = rnn.ACTIVATIONS.index(act) if cell.share_by_activation else 0
        pairs[k] = (k * (k - 1) // 2 + j) * cell.num_bank_activations + a
    act0 = rnn.ACTIVATIONS.index(decoded.nodes[0][1]) if cell.num_node0_activations > 1 else 0
    w_prev, w_skip = cell.w_prev.numpy()[act0], cell.w_skip.numpy()
    m_x = np.ones_like(state) if input_mask is None else input_mask
    m_s = np.ones_like(state) if recurrent_mask is None else recurrent_mask
    if cell.output_mode == "loose_ends":
        ends = list(decoded.loose_ends)
    else:
        ends = list(range(1, cell.num_nodes))
    outputs = []
    for t in range(x.shape[1]):
        z = np.concatenate([x[:, t] * m_x, state * m_s], 1) @ w_prev
        c = _sigmoid(z[:, h:])
        nodes = [c * NUMPY_ACTS[decoded.nodes[0][1]](z[:, :h]) + (1 - c) * state]
        for k, (j, act) in enumerate(decoded.nodes[1:], start=1):
            z = (nodes[j] * m_s) @ w_skip[pairs[k]]
            c = _sigmoid(z[:, h:])
            nodes.append(c * NUMPY_ACTS[act](z[:, :h]) + (1 - c) * nodes[j])
        state = np.mean([nodes[e] for e in ends], axis=0)
        outputs.append(state)
    return np.stack(outputs, 1), state


def make(num_nodes, arc_format, hidden=5, **kwargs):
    space = rnn.RNNCellSpace(num_nodes, arc_format)
    keras.utils.set_random_seed(1)
    return space, SharedRNNCell(num_nodes, hidden, space, init_range=0.6, **kwargs)


def inputs(batch=3, steps=4, hidden=5, seed=0):
    rng = np.random.default_rng(seed)
    masks = [(rng.uniform(size=(batch, hidden)) > 0.3) / 0.7 for _ in range(2)]
    return (
        rng.normal(size=(batch, steps, hidden)).astype("f4"),
        rng.normal(size=(batch, hidden)).astype("f4"),
        *[m.astype("f4") for m in masks],
    )


def test_ptb_final_arc_averages_its_six_loose_ends():
    space, cell = make(12, "original")
    out_weights = cell.decode_arc(space.parse(PTB_FINAL))["out_weights"].numpy()
    np.testing.assert_allclose(out_weights, np.isin(np.arange(12), [3, 4, 7, 9, 10, 11]) / 6)


@pytest.mark.parametrize("arc_format,arc", [("original", PTB_FINAL), ("enas_lm", ENAS_LM_FINAL)])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy_reference(arc_format, arc, masked):
    space, cell = make(12 if arc_format == "original" else 9, arc_format)
    x, state, m_x, m_s = inputs()
    masks = (m_x, m_s) if masked else (None, None)
    arc = space.parse(arc)
    outputs, new_state = cell(x, state, arc, *masks)
    want, want_state = numpy_cell(cell, space, arc, x, state, *masks)
    np.testing.assert_allclose(outputs.numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_state.numpy(), want_state, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(output_mode="all_nodes"), dict(share_by_activation=False)])
def test_options_match_numpy_reference(kwargs):
    space, cell = make(6, "original", **kwargs)
    x, state, _, m_s = inputs(seed=2)
    for seed in range(3):
        arc = space.random_arc(seed)
        want, _ = numpy_cell(cell, space, arc, x, state, recurrent_mask=m_s)
        got, _ = cell(x, state, arc, recurrent_mask=m_s)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_weight_bank_stores_only_valid_pairs():
    _, cell = make(5, "original")
    assert cell.w_skip.shape == (10 * 4, 5, 10) and cell.w_prev.shape == (4, 10, 10)
    _, cell = make(5, "enas_lm", share_by_activation=False)
    assert cell.w_skip.shape == (10, 5, 10) and cell.w_prev.shape == (1, 10, 10)
    values = cell.w_skip.numpy()
    assert np.abs(values).max() <= 0.6 and values.std() > 0.2  # U[-0.6, 0.6], filled


def test_outputs_depend_only_on_selected_weights():
    space, cell = make(6, "enas_lm")
    x, state, _, _ = inputs()
    arc = space.random_arc(3)
    selected = set(cell.decode_arc(arc)["bank_index"].numpy().tolist())
    base, _ = cell(x, state, arc)
    bank = cell.w_skip.numpy()
    unused = next(i for i in range(bank.shape[0]) if i not in selected)
    cell.w_skip.assign(bank + 5.0 * (np.arange(bank.shape[0]) == unused)[:, None, None])
    np.testing.assert_array_equal(cell(x, state, arc)[0].numpy(), base.numpy())
    cell.w_skip.assign(bank + 0.5 * (np.arange(bank.shape[0]) == min(selected))[:, None, None])
    assert np.abs(cell(x, state, arc)[0].numpy() - base.numpy()).max() > 1e-3


def reference_tf(cell, space, arc, x, state, m_x, m_s):
    """The same cell in plain TF ops, differentiated by autodiff."""
    decoded, h = space.decode(arc), cell.hidden_size
    index = cell.decode_arc(arc)
    w0 = tf.gather(cell.w_prev, index["node0_index"])[0]
    w = tf.gather(cell.w_skip, index["bank_index"])
    acts = [
        getattr(tf.math, a)
        if a in ("tanh", "sigmoid")
        else (tf.nn.relu if a == "relu" else tf.identity)
        for _, a in decoded.nodes
    ]
    outputs = []
    for t in range(x.shape[1]):
        z = tf.concat([x[:, t] * m_x, state * m_s], 1) @ w0
        c = tf.sigmoid(z[:, h:])
        nodes = [c * acts[0](z[:, :h]) + (1 - c) * state]
        for k, (j, _) in enumerate(decoded.nodes[1:], start=1):
            z = (nodes[j] * m_s) @ w[k - 1]
            c = tf.sigmoid(z[:, h:])
            nodes.append(c * acts[k](z[:, :h]) + (1 - c) * nodes[j])
        state = tf.add_n([nodes[e] / len(decoded.loose_ends) for e in decoded.loose_ends])
        outputs.append(state)
    return tf.stack(outputs, 1)


@pytest.mark.parametrize(
    "arc_format,mode", [("original", "eager"), ("enas_lm", "eager"), ("original", "graph")]
)
def test_hand_written_bptt_matches_autodiff(arc_format, mode):
    """Eagerly and in a `tf.function` (the train step's mode; TensorArrays differ)."""
    space, cell = make(7, arc_format)
    x, state, m_x, m_s = (tf.constant(v) for v in inputs(seed=4))
    target = tf.random.stateless_normal((3, 4, 5), seed=(1, 2))

    def gradients(fn):
        with tf.GradientTape() as tape:
            tape.watch([x, state])
            loss = tf.reduce_sum(fn() * target)
        return [
            tf.convert_to_tensor(g)
            for g in tape.gradient(loss, [x, state, cell.w_prev, cell.w_skip])
        ]

    def hand_written(arc):
        return gradients(lambda: cell(x, state, arc, m_x, m_s)[0])

    hand_written = tf.function(hand_written) if mode == "graph" else hand_written
    for seed in range(4):
        arc = space.random_arc(seed)
        grads = [
            hand_written(tf.constant(arc)),
            gradients(lambda arc=arc: reference_tf(cell, space, arc, x, state, m_x, m_s)),
        ]
        for got, want in zip(*grads):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-4, atol=2e-5)


def test_bank_gradient_is_sparse_over_the_selected_rows():
    space, cell = make(6, "original")
    x, state, _, _ = inputs()
    arc = space.random_arc(5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(cell(x, state, arc)[0]) + cell.l2_penalty(arc)
    grad = tape.gradient(loss, cell.w_skip)
    assert isinstance(grad, tf.IndexedSlices)
    rows = set(cell.decode_arc(arc)["bank_index"].numpy().tolist())
    assert set(grad.indices.numpy().tolist()) == rows


def test_l2_penalty_sums_squares_of_selected_matrices():
    space, cell = make(5, "original")
    arc = space.random_arc(0)
    index = cell.decode_arc(arc)
    want = (
        np.square(cell.w_prev.numpy()[index["node0_index"].numpy()]).sum()
        + np.square(cell.w_skip.numpy()[index["bank_index"].numpy()]).sum()
    )
    np.testing.assert_allclose(cell.l2_penalty(arc).numpy(), want, rtol=1e-5)


def test_all_activations_and_their_derivatives():
    pre = tf.constant([-1.5, -0.2, 0.3, 2.0])
    for act, name in enumerate(rnn.ACTIVATIONS):
        with tf.GradientTape() as tape:
            tape.watch(pre)
            want = {
                "tanh": tf.tanh,
                "relu": tf.nn.relu,
                "identity": tf.identity,
                "sigmoid": tf.sigmoid,
            }[name](pre)
        a, d_a = highway_recurrence.activate(pre, tf.constant(act))
        np.testing.assert_allclose(a.numpy(), want.numpy(), rtol=1e-6)
        np.testing.assert_allclose(d_a.numpy(), tape.gradient(want, pre).numpy(), rtol=1e-6)


def test_invalid_arc_input_node_is_rejected():
    space, cell = make(4, "enas_lm")
    arc = space.random_arc(0)
    arc[space.token_layout()["prev_positions"][2]] = 3  # node 3 reads node 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="node k must read a node j < k"):
        cell.decode_arc(arc)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(num_nodes=1), ValueError, "`num_nodes` must be >= 2. Received: num_nodes=1"),
        (dict(hidden_size=0), ValueError, "`hidden_size` must be >= 1. Received: hidden_size=0"),
        (dict(hidden_size=2.5), TypeError, "`hidden_size` must be an int"),
        (dict(output_mode="last"), ValueError, "`output_mode` must be one of"),
        (dict(init_range=-1.0), ValueError, "`init_range` must be >= 0"),
        (dict(token_layout={"prev_positions": [0]}), TypeError, "`token_layout` must be"),
        (dict(num_nodes=5), ValueError, "does not describe a 5-node cell"),
    ],
)
def test_bad_arguments_raise(kwargs, error, message):
    args = dict(num_nodes=4, hidden_size=3, token_layout=rnn.RNNCellSpace(4))
    args.update(kwargs)
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
        SharedRNNCell(**args)


def test_get_config_round_trip():
    _, cell = make(4, "original", output_mode="all_nodes")
    clone = SharedRNNCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
