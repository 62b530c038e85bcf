"""`SharedRNNLM`: the shared-weight PTB language model, the child during the RNN search."""

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_enas.layers import locked_dropout, tied_softmax
from keras_enas.layers.shared_rnn_cell import SharedRNNCell
from keras_enas.search_spaces.rnn import RNNCellSpace

__all__ = ["SharedRNNLM"]

_RATES = ("drop_e", "drop_i", "drop_x", "drop_l", "drop_o")


class SharedRNNLM(keras.Model):
    """Embedding → shared ENAS cell → tied softmax, with the enas_lm dropouts (§4.2).

    The embedding size equals the hidden size and the softmax reuses the embedding
    (`logits = h Eᵀ`, no bias: weight tying). Dropouts, all sampled once per call
    from the model's `SeedGenerator` (so a checkpoint restores the stream):
    `drop_e` drops whole word types (rows of E, scaled by 1/(1−p)); `drop_i` is
    locked dropout on the embedded inputs (mask `(B, 1, H)`); `drop_x` / `drop_l`
    are the cell's variational masks on `x_t` and on the state fed to every node;
    `drop_o` is locked dropout on the cell outputs. The softmax uses the undropped E
    (enas_lm `w_soft`).

    Args:
        space: an `RNNCellSpace` (or its `token_layout()` dict, then `num_nodes`
            is required).
        vocab_size: V, number of token ids.
        hidden_size: H = embedding size.
        num_nodes: N; read from `space` when it is a space.
        drop_e, drop_i, drop_x, drop_l, drop_o: dropout probabilities in [0, 1).
        init_range: every weight starts U[−init_range, init_range].
        share_by_activation, output_mode: see `SharedRNNCell`.
        seed: int seed of the dropout `SeedGenerator`.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        x: int `(B, T)` token ids.
        state: `(B, H)` the carried state (`initial_state(B)` at a sequence start).
        arc: int32 `(arc_length,)` architecture tensor.
        training: whether to apply dropout.

    Returns:
        `(logits, new_state)`: `(B, T, V)` and `(B, H)`.

    Raises:
        ValueError / TypeError: on bad sizes or rates.

    Example:
    >>> space = RNNCellSpace(num_nodes=4)
    >>> lm = SharedRNNLM(space, vocab_size=50, hidden_size=8, seed=0)
    >>> logits, state = lm(tf.zeros((2, 5), tf.int32), lm.initial_state(2), space.random_arc(0))
    >>> logits.shape
    TensorShape([2, 5, 50])
    """

    def __init__(
        self,
        space: RNNCellSpace,
        vocab_size: int,
        hidden_size: int,
        num_nodes: int | None = None,
        drop_e: float = 0.1,
        drop_i: float = 0.2,
        drop_x: float = 0.75,
        drop_l: float = 0.25,
        drop_o: float = 0.75,
        init_range: float = 0.04,
        share_by_activation: bool = True,
        output_mode: str = "loose_ends",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_nodes is None:
            if not hasattr(space, "num_nodes"):
                raise ValueError("`num_nodes` is required when `space` is a token layout.")
            num_nodes = space.num_nodes
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
            raise TypeError(f"`vocab_size` must be an int. Received: vocab_size={vocab_size!r}")
        if vocab_size < 1:
            raise ValueError(f"`vocab_size` must be >= 1. Received: vocab_size={vocab_size}")
        rates = dict(zip(_RATES, (drop_e, drop_i, drop_x, drop_l, drop_o)))
        for name, rate in rates.items():
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={rate}")
        self.rates = {name: float(rate) for name, rate in rates.items()}
        self.vocab_size, self.seed = int(vocab_size), seed
        self.cell = SharedRNNCell(
            num_nodes, hidden_size, space, share_by_activation, output_mode, init_range, name="cell"
        )
        self.hidden_size, self.num_nodes = self.cell.hidden_size, self.cell.num_nodes
        self.embedding = self.add_weight(
            shape=(self.vocab_size, self.hidden_size),
            name="embedding",
            initializer=keras.initializers.RandomUniform(-init_range, init_range),
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def initial_state(self, batch_size):
        """Zeros `(batch_size, H)`: the state at the start of a sequence."""
        return tf.zeros([batch_size, self.hidden_size], self.compute_dtype)

    def _mask(self, shape, name):
        return locked_dropout.dropout_mask(
            shape, self.rates[name], self.seed_generator, self.compute_dtype
        )

    def _features(self, x, state, arc, training, weights=None):
        """Embedding → cell → output dropout: `(outputs (B·T, H), new_state, E)`."""
        x = tf.convert_to_tensor(x)
        # One dense read, (V, H), in the compute dtype (bfloat16/float16 under a mixed
        # policy: `cross_entropy` is not a Keras call, so no autocast scope casts it).
        embedding = tf.cast(tf.convert_to_tensor(self.embedding), self.compute_dtype)
        emb = tf.gather(embedding, x)  # (B, T, H)
        input_mask = recurrent_mask = output_mask = None
        if training:  # enas_lm §4.2 dropouts, sampled once per call
            b, h = tf.shape(x)[0], self.hidden_size
            word_mask = self._mask((self.vocab_size,), "drop_e")  # whole word types
            emb = locked_dropout.apply_mask(
                emb, None if word_mask is None else tf.gather(word_mask, x)[..., None]
            )
            # drop_i (locked, on the embeddings) and drop_x (on x_t) are both fixed per
            # (sequence, unit): their product is one (B, H) mask on the cell input.
            input_mask = locked_dropout.apply_mask(
                self._mask((b, h), "drop_i"), self._mask((b, h), "drop_x")
            )
            recurrent_mask = self._mask((b, h), "drop_l")
            output_mask = self._mask((b, 1, h), "drop_o")
        outputs, new_state = self.cell(
            emb, state, arc, input_mask=input_mask, recurrent_mask=recurrent_mask, weights=weights
        )
        outputs = locked_dropout.apply_mask(outputs, output_mask)  # (B, T, H)
        return tf.reshape(outputs, [-1, self.hidden_size]), new_state, embedding

    def call(self, x, state, arc, training=False):
        outputs, new_state, embedding = self._features(x, state, arc, training)
        # Tied softmax (§4.2): logits = h Eᵀ, one 2-D matmul (faster than einsum on CPU).
        logits = tf.matmul(outputs, embedding, transpose_b=True)  # (B*T, V)
        shape = tf.shape(x)
        return tf.reshape(logits, [shape[0], shape[1], self.vocab_size]), new_state

    def cross_entropy(self, x, y, state, arc, training=False, with_l2=False):
        """Mean token cross-entropy of predicting `y` from `x`; the fast path for training.

        Same value as `call` followed by a sparse softmax cross-entropy, but never
        materialises the logits' gradient (see `tied_softmax_cross_entropy`).

        Args:
            x, state, arc, training: as in `call`.
            y: int `(B, T)` target ids.
            with_l2: also return `l2_penalty(arc)`, computed from the cell matrices
                this call gathers (one gather: less memory, one sparse gradient).

        Returns:
            `(loss, new_state)`: scalar mean loss in nats and `(B, H)`; with
            `with_l2`, `(loss, new_state, l2_penalty)`.
        """
        weights = self.cell.selected_weights(self.cell.decode_arc(arc)) if with_l2 else None
        outputs, new_state, embedding = self._features(x, state, arc, training, weights)
        losses = tied_softmax.tied_softmax_cross_entropy(outputs, embedding, tf.reshape(y, [-1]))
        if not with_l2:
            return tf.reduce_mean(losses), new_state
        return tf.reduce_mean(losses), new_state, self.l2_penalty(arc, weights)

    def l2_penalty(self, arc, weights=None):
        """`Σ w²` over the weights `arc` uses: its cell matrices and the embedding.

        `weights`: the cell's `selected_weights` of `arc` if already gathered.
        """
        return self.cell.l2_penalty(arc, weights) + tf.reduce_sum(tf.square(self.embedding))

    def get_config(self):
        config = super().get_config()
        config.update(
            space={k: v.tolist() for k, v in self.cell.layout.items()},
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_nodes=self.num_nodes,
            init_range=self.cell.init_range,
            share_by_activation=self.cell.share_by_activation,
            output_mode=self.cell.output_mode,
            seed=self.seed,
            **self.rates,
        )
        return config
