"""The serving functions of an exported PTB language model: ids or words in, checked first."""

import tensorflow as tf

from keras_enas.tasks import serving

__all__ = ["LMServing"]


class _Parts:
    """What the serving functions capture, kept out of the SavedModel's object graph."""

    def __init__(self, model):
        self.model = model


class LMServing(tf.Module):
    """`next_token_log_probs`, `sequence_log_likelihood` (+ `_words` with a vocabulary).

    Holds the model's variables as plain `tf.Variable`s (the Keras model is only
    captured by the functions), so the SavedModel loads without Keras. Inputs have
    unknown shapes in the signatures: the checks of `keras_enas.tasks.serving` refuse
    a bad request with `InvalidArgumentError` before the model runs.

    Args:
        model: a model from `build_fixed_model`.
        vocab_file: the vocabulary (line k: the word of id k), or None (no words).
    """

    def __init__(self, model, vocab_file=None):
        super().__init__(name="keras_enas_lm")
        self.model_variables = [v.value for v in model.variables]
        self._parts = _Parts(model)
        self.width, self.vocab_size = model.inputs[1].shape[-1], model.outputs[0].shape[-1]
        tokens = tf.TensorSpec(None, tf.int32, name="token_ids")
        self.next_token_log_probs = tf.function(
            self._next, input_signature=[tokens, tf.TensorSpec(None, tf.float32, name="state")]
        )
        self.sequence_log_likelihood = tf.function(self._sequence, input_signature=[tokens])
        if vocab_file is None:
            return
        self.vocab_table = tf.lookup.StaticHashTable(  # its file becomes assets/<name>
            tf.lookup.TextFileInitializer(
                vocab_file,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=-1,
        )
        with open(vocab_file, encoding="utf-8") as f:
            words = f.read().split("\n")
        self._unk = words.index("<unk>") if "<unk>" in words else None
        self.sequence_log_likelihood_words = tf.function(
            self._words, input_signature=[tf.TensorSpec(None, tf.string, name="words")]
        )

    def _checked_ids(self, token_ids):
        shape = serving.check_shape(
            token_ids,
            (None, None),
            "token_ids must be a (batch, time) matrix with at least one row and one token",
        )
        with tf.control_dependencies([shape]):
            in_range = serving.check_values(
                (token_ids >= 0) & (token_ids < self.vocab_size),
                f"token_ids must be in [0, {self.vocab_size}) (the vocabulary); "
                "received min and max",
                tf.reduce_min(token_ids),
                tf.reduce_max(token_ids),
            )
        return serving.guarded([shape, in_range], token_ids, (None, None))

    def _next(self, token_ids, state):
        token_ids = self._checked_ids(token_ids)
        batch = tf.shape(token_ids)[0]
        shape = serving.check_shape(
            state,
            (batch, self.width),
            f"state must have shape (batch, {self.width}), batch as in token_ids",
        )
        with tf.control_dependencies([shape]):
            finite = serving.check_values(tf.math.is_finite(state), "state must be finite")
        state = serving.guarded([shape, finite], state, (None, self.width))
        logits, new_state = self._parts.model([token_ids, state], training=False)  # (B, T, V)
        answer = {"log_probs": tf.nn.log_softmax(logits), "state": new_state}
        return serving.checked_finite(answer, "the answer is not finite: state is too large")

    def _score(self, token_ids):
        """Log-likelihood of tokens 1..T−1 given their prefixes, from a zero state."""
        state = tf.zeros([tf.shape(token_ids)[0], self.width], tf.float32)
        # All T tokens in (the last logits are unused): T = 1 runs one step, not none.
        logits, _ = self._parts.model([token_ids, state], training=False)  # (B, T, V)
        nats = tf.nn.sparse_softmax_cross_entropy_with_logits(token_ids[:, 1:], logits[:, :-1])
        log_likelihood = -tf.reduce_sum(nats, axis=1)  # (B,); 0 when T = 1
        count = tf.cast(tf.shape(token_ids)[1] - 1, tf.float32)
        answer = {
            "log_likelihood": log_likelihood,
            "perplexity": tf.exp(-log_likelihood / tf.maximum(count, 1.0)),
        }
        return serving.checked_finite(answer, "the answer is not finite")

    def _sequence(self, token_ids):
        return self._score(self._checked_ids(token_ids))

    def _words(self, words):
        shape = serving.check_shape(
            words,
            (None, None),
            "words must be a (batch, time) matrix of strings with at least one row and one word",
        )
        words = serving.guarded([shape], words, (None, None))
        ids = self.vocab_table.lookup(words)  # -1: not in the vocabulary
        if self._unk is not None:
            ids = tf.where(ids < 0, tf.constant(self._unk, tf.int64), ids)
        else:
            known = serving.check_values(
                ids >= 0,
                "words must be in the vocabulary (assets/vocab.txt); received",
                tf.boolean_mask(words, ids < 0),
            )
            ids = serving.guarded([known], ids, (None, None))
        ids = tf.cast(ids, tf.int32)
        return {**self._score(ids), "token_ids": ids}

    def lite_next_token_log_probs(self, token_ids, state):
        """`next_token_log_probs` without the request checks (for TFLite)."""
        logits, new_state = self._parts.model([token_ids, state], training=False)
        return {"log_probs": tf.nn.log_softmax(logits), "state": new_state}
