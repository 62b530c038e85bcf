"""Tests for keras_enas.models.shared_rnn_lm (and the tied softmax in layers.tied_softmax)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.layers import locked_dropout, tied_softmax
from keras_enas.models import SharedRNNLM
from keras_enas.search_spaces import rnn

B, T, H, V = 3, 6, 8, 23


def make(arc_format="enas_lm", num_nodes=5, seed=0, **kwargs):
    space = rnn.RNNCellSpace(num_nodes, arc_format)
    keras.utils.set_random_seed(7)
    return space, SharedRNNLM(
        space, vocab_size=V, hidden_size=H, seed=seed, init_range=0.3, **kwargs
    )


def tokens(seed=0, steps=T):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.integers(0, V, (B, steps)), tf.int32)


def sparse_xent(y, logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))


def test_shapes_and_tied_softmax():
    space, lm = make()
    logits, state = lm(tokens(), lm.initial_state(B), space.random_arc(0))
    assert logits.shape == (B, T, V) and state.shape == (B, H)
    assert [v.shape for v in lm.trainable_variables] == [
        (V, H),
        (1, 2 * H, 2 * H),
        (10 * 4, H, 2 * H),
    ]
    # Weight tying: the logits are the cell outputs times Eᵀ, no bias.
    emb = tf.gather(lm.embedding, tokens())
    outputs, _ = lm.cell(emb, lm.initial_state(B), space.random_arc(0))
    np.testing.assert_allclose(
        logits.numpy(), (outputs @ tf.transpose(lm.embedding)).numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("training", [False, True])
def test_cross_entropy_matches_logits_path_and_gradients(training):
    space, lm = make(seed=3)
    x, y, arc = tokens(1), tokens(2), space.random_arc(1)
    results = []
    for fast in (True, False):
        lm.seed_generator.state.assign([3, 0])  # same dropout masks in both passes
        with tf.GradientTape() as tape:
            if fast:
                loss, state = lm.cross_entropy(x, y, lm.initial_state(B), arc, training)
            else:
                logits, state = lm(x, lm.initial_state(B), arc, training=training)
                loss = sparse_xent(y, logits)
        grads = tape.gradient(loss, lm.trainable_variables)
        results.append([loss, state] + [tf.convert_to_tensor(g) for g in grads])
    for fast, reference in zip(*results):
        np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=2e-4, atol=1e-6)


def test_tied_softmax_is_exact_for_extreme_logits():
    h = tf.constant([[300.0, -200.0], [0.1, 0.2]])
    emb = tf.constant([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    labels = tf.constant([1, 2])
    want = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, h @ tf.transpose(emb))
    got = tied_softmax.tied_softmax_cross_entropy(h, emb, labels)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert got.numpy()[0] == pytest.approx(500.0)


def train_step_fn(lm):
    optimizer = keras.optimizers.SGD(0.5)
    optimizer.build(lm.trainable_variables)
    traces = []

    @tf.function
    def step(x, y, state, arc):
        traces.append(1)  # runs once per trace
        with tf.GradientTape() as tape:
            loss, new_state = lm.cross_entropy(x, y, state, arc, training=True)
            objective = loss + 1e-3 * lm.l2_penalty(arc)
        grads = tape.gradient(objective, lm.trainable_variables)
        kinds = [type(g).__name__ for g in grads]
        grads, _ = tf.clip_by_global_norm(grads, 0.25)
        optimizer.apply(grads, lm.trainable_variables)
        return loss, new_state, kinds

    return step, traces


def test_train_step_updates_only_selected_bank_slices():
    space, lm = make("original")
    step, _ = train_step_fn(lm)
    arc = space.random_arc(4)
    index = lm.cell.decode_arc(arc)
    before = [v.numpy() for v in lm.trainable_variables]
    _, _, kinds = step(tokens(), tokens(1), lm.initial_state(B), tf.constant(arc))
    assert kinds[1:] == ["IndexedSlices", "IndexedSlices"]  # w_prev, w_skip
    for var, old, rows in zip(
        lm.trainable_variables[1:], before[1:], (index["node0_index"], index["bank_index"])
    ):
        changed = np.flatnonzero(np.abs(var.numpy() - old).reshape(len(old), -1).max(1) > 0)
        assert changed.tolist() == sorted(rows.numpy().tolist())


def test_one_trace_serves_fifty_random_arcs():
    space, lm = make(num_nodes=4)
    step, traces = train_step_fn(lm)
    state = lm.initial_state(B)
    rng = np.random.default_rng(0)
    arcs = {tuple(space.random_arc(rng)) for _ in range(200)}
    assert len(arcs) >= 50
    for arc in list(arcs)[:50]:
        loss, state, _ = step(tokens(), tokens(1), state, tf.constant(arc, tf.int32))
    assert len(traces) == 1 and np.isfinite(loss.numpy())


def test_dropout_only_in_training():
    space, lm = make()
    x, arc = tokens(), space.random_arc(2)
    state = lm.initial_state(B)
    infer = [lm(x, state, arc)[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(infer[0], infer[1])
    train = [lm(x, state, arc, training=True)[0].numpy() for _ in range(2)]
    assert np.abs(train[0] - train[1]).max() > 1e-4
    assert np.abs(train[0] - infer[0]).max() > 1e-4


def test_no_dropout_rates_make_training_deterministic():
    space, lm = make(drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0)
    x, arc, state = tokens(), space.random_arc(2), lm.initial_state(B)
    np.testing.assert_allclose(
        lm(x, state, arc, training=True)[0].numpy(), lm(x, state, arc)[0].numpy(), rtol=1e-6
    )


def test_dropout_mask_values_and_rate_check():
    mask = locked_dropout.dropout_mask((400, 1, 5), 0.25, keras.random.SeedGenerator(0)).numpy()
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / 0.75])
    assert abs((mask == 0).mean() - 0.25) < 0.05
    assert locked_dropout.dropout_mask((2, 3), 0.0, 0) is None
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\). Received: rate=1.0"):
        locked_dropout.dropout_mask((2, 3), 1.0, 0)


def test_same_seed_same_dropout_stream():
    space, first = make(seed=5)
    _, second = make(seed=5)
    second.set_weights(first.get_weights())
    x, arc, state = tokens(), space.random_arc(0), first.initial_state(B)
    np.testing.assert_array_equal(
        first(x, state, arc, training=True)[0].numpy(),
        second(x, state, arc, training=True)[0].numpy(),
    )


def test_state_carried_across_halves_equals_whole_sequence():
    space, lm = make("original", num_nodes=6)
    x, arc = tokens(3, steps=8), space.random_arc(6)
    whole, whole_state = lm(x, lm.initial_state(B), arc)
    first, state = lm(x[:, :5], lm.initial_state(B), arc)
    second, state = lm(x[:, 5:], state, arc)
    np.testing.assert_allclose(
        tf.concat([first, second], 1).numpy(), whole.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(state.numpy(), whole_state.numpy(), rtol=1e-5, atol=1e-6)


def test_l2_penalty_adds_embedding():
    space, lm = make()
    arc = space.random_arc(0)
    want = lm.cell.l2_penalty(arc).numpy() + np.square(lm.embedding.numpy()).sum()
    np.testing.assert_allclose(lm.l2_penalty(arc).numpy(), want, rtol=1e-5)


def test_cross_entropy_with_l2_gathers_the_bank_once():
    space, lm = make(num_nodes=5)
    arc, x, y = space.random_arc(0), tokens(0), tokens(1)
    with tf.GradientTape() as tape:
        loss, _, penalty = lm.cross_entropy(x, y, lm.initial_state(B), arc, True, with_l2=True)
        objective = loss + 1e-2 * penalty
    np.testing.assert_allclose(penalty.numpy(), lm.l2_penalty(arc).numpy(), rtol=1e-6)
    grad = tape.gradient(objective, lm.cell.w_skip.value)
    # One sparse gradient of the N - 1 rows the arc uses (not each row twice, not dense).
    assert isinstance(grad, tf.IndexedSlices) and grad.indices.shape == (4,)
    rows = lm.cell.decode_arc(arc)["bank_index"].numpy()
    np.testing.assert_array_equal(grad.indices.numpy(), rows)


def test_accepts_a_token_layout_and_round_trips_config():
    space, lm = make()
    clone = SharedRNNLM.from_config(lm.get_config())
    assert clone.get_config() == lm.get_config()
    with pytest.raises(ValueError, match="`num_nodes` is required"):
        SharedRNNLM(space.token_layout(), vocab_size=V, hidden_size=H)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(vocab_size=0), ValueError, "`vocab_size` must be >= 1. Received: vocab_size=0"),
        (dict(vocab_size="10"), TypeError, "`vocab_size` must be an int"),
        (dict(drop_o=1.0), ValueError, r"`drop_o` must be in \[0, 1\). Received: drop_o=1.0"),
        (dict(hidden_size=0), ValueError, "`hidden_size` must be >= 1"),
    ],
)
def test_bad_arguments_raise(kwargs, error, message):
    args = dict(vocab_size=V, hidden_size=H)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        SharedRNNLM(rnn.RNNCellSpace(4), **args)


def test_dynamic_batch_and_length_under_one_trace():
    space, lm = make()
    spec = [tf.TensorSpec([None, None], tf.int32)] * 2 + [
        tf.TensorSpec([None, H]),
        tf.TensorSpec([None], tf.int32),
    ]

    @tf.function(input_signature=spec)
    def loss_and_grad(x, y, state, arc):
        with tf.GradientTape() as tape:
            loss, _ = lm.cross_entropy(x, y, state, arc, training=True)
        return loss, tape.gradient(loss, lm.cell.w_skip).values

    arc = tf.constant(space.random_arc(0))
    for batch, steps in ((2, 3), (4, 7)):
        x = tf.zeros((batch, steps), tf.int32)
        loss, grad = loss_and_grad(x, x, tf.zeros((batch, H)), arc)
        assert np.isfinite(loss.numpy()) and grad.shape[1:] == (H, 2 * H)
    assert loss_and_grad.experimental_get_tracing_count() == 1
