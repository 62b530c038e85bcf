"""Tests of the fixed PTB model: equal to the shared one, parameter count, save/load, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.config.ptb_final import PTB_FINAL_ARC
from keras_enas.layers.fixed_rnn_cell import FixedRNNCell
from keras_enas.layers.tied_embedding import TiedEmbedding
from keras_enas.models import fixed_rnn
from keras_enas.models.shared_rnn_lm import SharedRNNLM
from keras_enas.search_spaces import rnn

V, H = 40, 12


def _inputs(batch=3, steps=6, width=H, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (batch, steps)).astype(np.int32)
    return x, (0.3 * rng.normal(size=(batch, width))).astype(np.float32)


def _shared(space, output_mode="loose_ends", share_by_activation=True):
    shared = SharedRNNLM(
        space,
        vocab_size=V,
        hidden_size=H,
        output_mode=output_mode,
        share_by_activation=share_by_activation,
        init_range=0.5,
        seed=0,
    )
    x, state = _inputs()
    shared(x, state, space.random_arc(0))
    return shared


ARC_CASES = [  # (num_nodes, format, arc); several arcs, every activation, both formats
    (12, "original", PTB_FINAL_ARC),
    (4, "original", "3 0 2 1 1 0 3"),
    (5, "original", "1 0 2 0 3 2 1 3 0"),
    (9, "enas_lm", "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"),
    (4, "enas_lm", "0 3 1 1 0 2"),
]


@pytest.mark.parametrize("num_nodes,arc_format,fixed_arc", ARC_CASES)
@pytest.mark.parametrize("output_mode", ["loose_ends", "all_nodes"])
def test_fixed_equals_shared_after_copy(num_nodes, arc_format, fixed_arc, output_mode):
    space = rnn.RNNCellSpace(num_nodes, arc_format)
    arc = space.parse(fixed_arc)
    shared = _shared(space, output_mode)
    fixed = fixed_rnn.build_fixed_model(space, arc, V, H, output_mode=output_mode, seed=1)
    fixed_rnn.copy_shared_weights(fixed, shared, arc)
    x, state = _inputs()
    want_logits, want_state = shared(x, state, arc, training=False)
    logits, new_state = fixed([x, state], training=False)
    assert float(tf.reduce_max(tf.abs(want_logits))) > 0.05  # not a trivially tiny output
    np.testing.assert_allclose(logits, want_logits, atol=1e-5)
    np.testing.assert_allclose(new_state, want_state, atol=1e-5)


def test_fixed_equals_shared_with_per_pair_sharing():
    space = rnn.RNNCellSpace(5, "original")
    arc = space.parse("1 0 2 0 3 2 1 3 0")
    shared = _shared(space, share_by_activation=False)
    fixed = fixed_rnn.build_fixed_model(space, arc, V, H)
    fixed_rnn.copy_shared_weights(fixed, shared, arc)
    x, state = _inputs()
    np.testing.assert_allclose(fixed([x, state])[0], shared(x, state, arc)[0], atol=1e-5)


def test_parameter_count_of_the_ptb_final_cell():
    space = rnn.RNNCellSpace(12, "original")
    arc = space.parse(PTB_FINAL_ARC)
    hidden, vocab = 748, 10000
    model = fixed_rnn.build_fixed_model(space, arc, vocab, hidden)
    cell = space.decode(arc)
    # Node 0: W_prev (2H x 2H) over [x_t, h_{t-1}]; each later node: one H x 2H matrix (its
    # single chosen input); tied embedding/softmax V x H counted once; no biases.
    node0 = (2 * hidden) * (2 * hidden)
    later = (len(cell.nodes) - 1) * hidden * 2 * hidden
    expected = node0 + later + vocab * hidden
    assert fixed_rnn.num_parameters(model) == expected == 22_027_104


def test_lstm_baseline_parameter_count_and_state():
    model = fixed_rnn.build_fixed_model(None, None, V, H, cell="lstm")
    assert fixed_rnn.num_parameters(model) == 4 * (H * H + H * H + H) + V * H
    x, _ = _inputs()
    logits, state = model([x, np.zeros((3, 2 * H), np.float32)])
    assert logits.shape == (3, 6, V) and state.shape == (3, 2 * H)


@pytest.mark.parametrize("cell", ["enas", "lstm"])
def test_carrying_the_state_equals_one_long_call(cell):
    space = rnn.RNNCellSpace(4, "enas_lm") if cell == "enas" else None
    arc = space.parse("0 3 1 1 0 2") if cell == "enas" else None
    model = fixed_rnn.build_fixed_model(space, arc, V, H, cell=cell, init_range=0.3)
    x, _ = _inputs(steps=8)
    state = np.zeros((3, model.inputs[1].shape[-1]), np.float32)
    whole, final = model([x, state])
    first, mid = model([x[:, :5], state])
    second, last = model([x[:, 5:], np.asarray(mid)])
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole, atol=1e-5)
    np.testing.assert_allclose(last, final, atol=1e-5)


@pytest.mark.parametrize("cell", ["enas", "lstm"])
def test_save_and_load_keras_file_gives_the_same_outputs(cell, tmp_path):
    space = rnn.RNNCellSpace(12, "original") if cell == "enas" else None
    arc = space.parse(PTB_FINAL_ARC) if cell == "enas" else None
    model = fixed_rnn.build_fixed_model(space, arc, V, H, cell=cell, init_range=0.3, seed=3)
    path = str(tmp_path / "lm.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x, _ = _inputs()
    state = np.full((3, model.inputs[1].shape[-1]), 0.1, np.float32)
    for want, got in zip(model([x, state]), loaded([x, state])):
        np.testing.assert_array_equal(want, got)
    if cell == "enas":
        assert loaded.get_layer("rnn").cell.nodes == space.decode(arc).nodes


def test_dropout_only_in_training_and_masks_fixed_over_time():
    space = rnn.RNNCellSpace(4, "enas_lm")
    arc = space.parse("0 3 1 1 0 2")
    model = fixed_rnn.build_fixed_model(
        space, arc, V, H, drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.5, seed=0
    )
    x, state = _inputs(steps=10)
    eval_logits = model([x, state], training=False)[0]
    np.testing.assert_array_equal(eval_logits, model([x, state], training=False)[0])
    assert not np.allclose(model([x, state], training=True)[0], eval_logits)
    # Locked output dropout: the dropped units are the same at every time step.
    view = keras.Model(model.inputs, model.get_layer("drop_o").output)
    dropped = view([x, state], training=True).numpy() == 0  # (B, T, H)
    assert dropped.any() and (dropped == dropped[:, :1]).all()


def test_tied_embedding_is_the_softmax_and_drops_word_types():
    tied = TiedEmbedding(V, H, drop_e=0.5, init_range=1.0, seed=0)
    h = np.random.default_rng(0).normal(size=(2, 3, H)).astype(np.float32)
    np.testing.assert_allclose(tied(h, reverse=True), h @ tied.embeddings.numpy().T, atol=1e-5)
    ids = np.array([[1, 2, 1, 2, 1, 2, 3, 3]], np.int32)
    emb = tied(ids, training=True).numpy()[0]
    zero = (emb == 0).all(-1)
    assert zero[0] == zero[2] == zero[4] and zero[1] == zero[3] == zero[5]


def test_cell_errors():
    with pytest.raises(ValueError, match=r"Node 2 input must be in \[0, 1\]. Received: 2"):
        FixedRNNCell([(None, "tanh"), (0, "relu"), (2, "tanh")], 4)
    with pytest.raises(ValueError, match=r"Node 1 activation must be one of"):
        FixedRNNCell([(None, "tanh"), (0, "gelu")], 4)
    with pytest.raises(TypeError, match=r"`nodes` must be a sequence of \(input_node"):
        FixedRNNCell(5, 4)
    with pytest.raises(ValueError, match=r"`output_mode` must be one of"):
        FixedRNNCell([(None, "tanh"), (0, "relu")], 4, output_mode="last")
    with pytest.raises(ValueError, match=r"`recurrent_dropout` must be in \[0, 1\)"):
        FixedRNNCell([(None, "tanh"), (0, "relu")], 4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match=r"input size must equal `hidden_size`=4"):
        keras.layers.RNN(FixedRNNCell([(None, "tanh"), (0, "relu")], 4))(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"`drop_e` must be in \[0, 1\)"):
        TiedEmbedding(5, 4, drop_e=-0.1)


def test_build_and_copy_errors():
    space = rnn.RNNCellSpace(4, "enas_lm")
    arc = space.parse("0 3 1 1 0 2")
    with pytest.raises(ValueError, match=r"`cell` must be one of \('enas', 'lstm'\)"):
        fixed_rnn.build_fixed_model(space, arc, V, H, cell="gru")
    with pytest.raises(ValueError, match=r"do not apply to cell='lstm'"):
        fixed_rnn.build_fixed_model(space, arc, V, H, cell="lstm")
    with pytest.raises(ValueError, match=r"are required for cell='enas'"):
        fixed_rnn.build_fixed_model(space, None, V, H)
    with pytest.raises(ValueError, match=r"expected 6 tokens"):
        fixed_rnn.build_fixed_model(space, "0 1 1", V, H)
    shared = _shared(space)
    lstm = fixed_rnn.build_fixed_model(None, None, V, H, cell="lstm")
    with pytest.raises(ValueError, match=r"must have an ENAS cell"):
        fixed_rnn.copy_shared_weights(lstm, shared, arc)
    wide = fixed_rnn.build_fixed_model(space, arc, V, H + 1)
    with pytest.raises(ValueError, match=r"`hidden_size` differs: fixed model 13"):
        fixed_rnn.copy_shared_weights(wide, shared, arc)
    fixed = fixed_rnn.build_fixed_model(space, arc, V, H)
    with pytest.raises(ValueError, match=r"decodes to the cell .* but the fixed model's cell"):
        fixed_rnn.copy_shared_weights(fixed, shared, space.parse("0 1 1 1 0 2"))
