"""`TiedEmbedding`: one matrix E for the input embedding and the softmax (weight tying)."""

import keras
import numpy as np
from keras import ops

__all__ = ["TiedEmbedding"]


@keras.saving.register_keras_serializable(package="keras_enas")
class TiedEmbedding(keras.layers.Layer):
    """Embedding lookup, and the tied softmax logits `h Eᵀ` (no bias) with `reverse=True`.

    Weight tying (Inan et al. 2017; reference §4.2): the softmax reuses the
    embedding matrix E `(V, H)`. Call the same layer twice in a model, once on the
    token ids and once with `reverse=True` on the features. With `drop_e > 0` and
    `training=True`, the lookup drops whole word types (rows of E, scaled by
    1/(1−drop_e)), as enas_lm `drop_e` and `SharedRNNLM` do; the softmax always
    uses the undropped E.

    Args:
        vocab_size: V, number of token ids.
        hidden_size: H, the embedding size.
        drop_e: probability of dropping a word type in a training lookup.
        init_range: E starts U[−init_range, init_range].
        seed: int seed of the word-type masks.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: int `(B, T)` token ids, or `(..., H)` features when `reverse=True`.
        reverse: False: embed ids → `(B, T, H)`; True: logits `(..., V)`.
        training: whether to apply `drop_e` (lookup only).

    Raises:
        ValueError / TypeError: on bad sizes or rate.

    Example:
    >>> tied = TiedEmbedding(vocab_size=10, hidden_size=4)
    >>> h = tied(np.array([[1, 2, 3]]))
    >>> tuple(tied(h, reverse=True).shape)
    (1, 3, 10)
    """

    def __init__(self, vocab_size, hidden_size, drop_e=0.0, init_range=0.04, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
            if value < 1:
                raise ValueError(f"`{name}` must be >= 1. Received: {name}={value}")
        if not 0.0 <= drop_e < 1.0:
            raise ValueError(f"`drop_e` must be in [0, 1). Received: drop_e={drop_e}")
        self.vocab_size, self.hidden_size = int(vocab_size), int(hidden_size)
        self.drop_e, self.init_range, self.seed = float(drop_e), float(init_range), seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.embeddings = self.add_weight(
            shape=(self.vocab_size, self.hidden_size),
            name="embeddings",
            initializer=keras.initializers.RandomUniform(-init_range, init_range),
        )
        self.built = True

    def call(self, inputs, reverse=False, training=False):
        if reverse:  # tied softmax: logits = h Eᵀ, (..., V)
            return ops.matmul(inputs, ops.transpose(self.embeddings))
        ids = ops.cast(inputs, "int32")
        emb = ops.take(self.embeddings, ids, axis=0)  # (B, T, H)
        if training and self.drop_e > 0:  # drop_e: whole word types
            keep = keras.random.dropout(
                ops.ones((self.vocab_size,), self.compute_dtype),
                self.drop_e,
                seed=self.seed_generator,
            )
            emb = emb * ops.expand_dims(ops.take(keep, ids, axis=0), -1)
        return emb

    def compute_output_spec(self, inputs, reverse=False, training=False):
        shape = (
            tuple(inputs.shape[:-1]) + (self.vocab_size,)
            if reverse
            else tuple(inputs.shape) + (self.hidden_size,)
        )
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            drop_e=self.drop_e,
            init_range=self.init_range,
            seed=self.seed,
        )
        return config
