"""`build_fixed_model`: a found PTB cell (or the LSTM baseline) as an ordinary Keras LM."""

import keras
import numpy as np
from keras import ops

from keras_enas.layers.fixed_rnn_cell import FixedRNNCell
from keras_enas.layers.tied_embedding import TiedEmbedding
from keras_enas.search_spaces import rnn as rnn_space

__all__ = ["build_fixed_model", "CELLS", "copy_shared_weights", "num_parameters"]

CELLS = ("enas", "lstm")


def build_fixed_model(
    space,
    arc,
    vocab_size,
    hidden_size,
    drop_e=0.1,
    drop_i=0.2,
    drop_x=0.75,
    drop_l=0.25,
    drop_o=0.75,
    cell="enas",
    output_mode="loose_ends",
    init_range=0.04,
    seed=None,
    name=None,
):
    """Builds the final language model of one architecture: embedding → cell → tied softmax.

    A functional `keras.Model` with inputs `[token_ids (B, T) int32, state (B, S)]` and
    outputs `[logits (B, T, V), new_state (B, S)]`, so the state can be carried across
    minibatches (truncated BPTT). Its layers: `"embedding"` (a `TiedEmbedding`, also the
    softmax: weight tying, no bias), `"drop_i"` (locked dropout on the embedded inputs),
    `"rnn"` (`keras.layers.RNN` over a `FixedRNNCell` with only the chosen edges, or a
    `keras.layers.LSTM`), `"drop_o"` (locked dropout on the outputs). The dropouts are
    those of `SharedRNNLM` (reference §4.2). It saves and loads as `.keras`.

    Args:
        space: the `RNNCellSpace` of `arc` (None for `cell="lstm"`).
        arc: the arc in `space`'s format: an int sequence or a `fixed_arc` string.
        vocab_size: V.
        hidden_size: H = embedding size.
        drop_e, drop_i, drop_x, drop_l, drop_o: dropout probabilities in [0, 1): word
            types, embedded inputs (locked), cell input `x_t` (variational), state fed
            to every node (variational; the LSTM's recurrent dropout), outputs (locked).
        cell: `"enas"` (the found cell) or `"lstm"` (the baseline, S = 2H: `[h, c]`).
        output_mode: ENAS cell output, `"loose_ends"` or `"all_nodes"`.
        init_range: every weight starts U[−init_range, init_range] (LSTM biases: Keras').
        seed: int seed of the dropout masks (each layer gets its own offset).
        name: model name.

    Returns:
        A `keras.Model`; `S` (the state width) is `model.inputs[1].shape[-1]`.

    Raises:
        ValueError: if `cell` is unknown, the arc is invalid, or `space`/`arc` are
            missing for `"enas"` or given for `"lstm"`.

    Example:
    >>> space = RNNCellSpace(num_nodes=3)
    >>> lm = build_fixed_model(space, "0 1 1 2", vocab_size=20, hidden_size=8)
    >>> logits, state = lm([np.zeros((2, 5), "int32"), np.zeros((2, 8), "float32")])
    >>> tuple(logits.shape), tuple(state.shape)
    ((2, 5, 20), (2, 8))
    """
    if cell not in CELLS:
        raise ValueError(f"`cell` must be one of {CELLS}. Received: cell={cell!r}")
    if cell == "lstm" and (space is not None or arc is not None):
        raise ValueError(
            f"`space` and `arc` do not apply to cell='lstm'. Received: space={space!r}, arc={arc!r}"
        )
    if cell == "enas" and (space is None or arc is None):
        raise ValueError("`space` and `arc` are required for cell='enas'.")
    seeds = [None] * 5 if seed is None else [seed + i for i in range(5)]
    h = int(hidden_size)
    init = keras.initializers.RandomUniform(-init_range, init_range)
    tokens = keras.Input((None,), dtype="int32", name="token_ids")
    state = keras.Input((h if cell == "enas" else 2 * h,), name="state")
    tied = TiedEmbedding(vocab_size, h, drop_e, init_range, seeds[0], name="embedding")
    x = keras.layers.Dropout(drop_i, noise_shape=(None, 1, h), seed=seeds[1], name="drop_i")(
        tied(tokens)
    )  # (B, T, H)
    if cell == "enas":
        architecture = space.decode(space.parse(arc))
        rnn = keras.layers.RNN(
            FixedRNNCell(architecture, h, output_mode, init_range, drop_x, drop_l, seeds[2]),
            return_sequences=True,
            return_state=True,
            name="rnn",
        )
        outputs, new_state = rnn(x, initial_state=[state])
    else:
        lstm = keras.layers.LSTM(
            h,
            dropout=drop_x,
            recurrent_dropout=drop_l,
            seed=seeds[2],
            kernel_initializer=init,
            recurrent_initializer=init,
            return_sequences=True,
            return_state=True,
            name="rnn",
        )
        h0, c0 = ops.split(state, 2, axis=-1)
        outputs, h_t, c_t = lstm(x, initial_state=[h0, c0])
        new_state = keras.layers.Concatenate(name="new_state")([h_t, c_t])
    outputs = keras.layers.Dropout(drop_o, noise_shape=(None, 1, h), seed=seeds[3], name="drop_o")(
        outputs
    )
    logits = tied(outputs, reverse=True)  # (B, T, V)
    return keras.Model([tokens, state], [logits, new_state], name=name or f"{cell}_lm")


def num_parameters(model):
    """Number of trainable parameters (tied weights counted once)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def copy_shared_weights(fixed_model, shared_lm, arc):
    """Loads the weights `arc` selects in a `SharedRNNLM` into a fixed model of that arc.

    Copies the embedding (= tied softmax), node 0's `W_prev` slice and each node's
    `W_{k, j, f}` slice. With the same weights both models compute the same function
    (`training=False`).

    Args:
        fixed_model: from `build_fixed_model(space, arc, ..., cell="enas")`.
        shared_lm: a built `SharedRNNLM` with the same H, V and output mode.
        arc: int sequence, `arc` in `shared_lm`'s arc format.

    Raises:
        ValueError: if the models' sizes, output modes or cells do not match `arc`.
    """
    cell = fixed_model.get_layer("rnn").cell
    if not isinstance(cell, FixedRNNCell):
        raise ValueError(
            f"`fixed_model` must have an ENAS cell (cell='enas'). Received a {type(cell).__name__}."
        )
    sizes = {
        "hidden_size": (cell.hidden_size, shared_lm.hidden_size),
        "vocab_size": (fixed_model.get_layer("embedding").vocab_size, shared_lm.vocab_size),
        "output_mode": (cell.output_mode, shared_lm.cell.output_mode),
    }
    for key, (fixed, shared) in sizes.items():
        if fixed != shared:
            raise ValueError(f"`{key}` differs: fixed model {fixed!r}, shared model {shared!r}.")
    decoded = shared_lm.cell.decode_arc(np.asarray(arc, np.int32))
    acts = [rnn_space.ACTIVATIONS[a] for a in np.asarray(decoded["acts"])]
    nodes = ((None, acts[0]),) + tuple(
        (int(j), a) for j, a in zip(np.asarray(decoded["prev"]), acts[1:])
    )
    if nodes != cell.nodes:
        raise ValueError(
            f"`arc` decodes to the cell {nodes} in the shared model, but the "
            f"fixed model's cell is {cell.nodes}."
        )
    w_prev, w_nodes = shared_lm.cell.selected_weights(decoded)
    cell.w_prev.assign(w_prev)
    for k, w in enumerate(cell.w_nodes):
        w.assign(w_nodes[k])
    fixed_model.get_layer("embedding").embeddings.assign(shared_lm.embedding)
