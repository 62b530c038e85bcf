"""SavedModel export of a final language model, plus `architecture.json` and its drawing."""

import os

import tensorflow as tf

from keras_enas.run import files, records
from keras_enas.tasks.ptb import architecture as arch_lib


def write_architecture_files(directory, space, arc, extra=None):
    """Writes `architecture.json` and the drawing of a ptb_rnn arc (or the LSTM) into `directory`.

    Args:
        directory: created if missing.
        space, arc: an `RNNCellSpace` and its arc; both None for the LSTM baseline
            (no drawing then).
        extra: optional dict merged into the JSON.

    Returns:
        The list of written paths.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, records.ARCHITECTURE_FILE)
    files.write_json(path, {**arch_lib.architecture_record(space, arc), **(extra or {})})
    if space is None:
        return [path]
    return [path, records.draw_architecture(directory, space, arc)]


class _Serving(tf.Module):
    """The serving functions of a fixed LM; it holds the model's variables, not Keras."""

    def __init__(self, model):
        super().__init__(name="keras_enas_lm")
        # Plain tf.Variables (the Keras model itself is only captured by the functions),
        # so the SavedModel loads without Keras.
        self.model_variables = [v.value for v in model.variables]
        width = model.inputs[1].shape[-1]
        tokens = tf.TensorSpec([None, None], tf.int32, name="token_ids")

        def next_token_log_probs(token_ids, state):
            logits, new_state = model([token_ids, state], training=False)  # (B, T, V)
            return {"log_probs": tf.nn.log_softmax(logits), "state": new_state}

        def sequence_log_likelihood(token_ids):
            state = tf.zeros([tf.shape(token_ids)[0], width], tf.float32)
            logits, _ = model([token_ids[:, :-1], state], training=False)  # (B, T-1, V)
            nats = tf.nn.sparse_softmax_cross_entropy_with_logits(token_ids[:, 1:], logits)
            log_likelihood = -tf.reduce_sum(nats, axis=1)  # (B,)
            count = tf.cast(tf.shape(token_ids)[1] - 1, tf.float32)
            return {
                "log_likelihood": log_likelihood,
                "perplexity": tf.exp(-log_likelihood / tf.maximum(count, 1.0)),
            }

        self.next_token_log_probs = tf.function(
            next_token_log_probs,
            input_signature=[tokens, tf.TensorSpec([None, width], tf.float32, name="state")],
        )
        self.sequence_log_likelihood = tf.function(
            sequence_log_likelihood, input_signature=[tokens]
        )


def export_ptb_model(model, export_dir, space=None, arc=None, extra=None):
    """Exports a fixed LM as a SavedModel that serves without Keras or keras_enas.

    Signatures (also callable as attributes of `tf.saved_model.load(export_dir)`):

    - `next_token_log_probs(token_ids int32 (B, T), state float32 (B, S))` →
      `{"log_probs": (B, T, V), "state": (B, S)}`: log p(next token) at every
      position, and the state to carry into the next call (zeros to start).
    - `sequence_log_likelihood(token_ids int32 (B, T))` →
      `{"log_likelihood": (B,), "perplexity": (B,)}`: from a zero state, the summed
      log-probability of tokens 1..T−1 given their prefixes (token 0 is context
      only; start PTB sentences with `<eos>`), and exp(−that / (T − 1)).

    `architecture.json` and the drawing (`cell.png`) are written into `export_dir`.

    Args:
        model: a model from `build_fixed_model`.
        export_dir: the SavedModel directory.
        space, arc: the architecture (None for the LSTM baseline).
        extra: optional dict merged into `architecture.json` (e.g. final perplexities).

    Returns:
        `export_dir`.

    Example:
    >>> export_ptb_model(lm, "runs/final/export", space, arc)  # doctest: +SKIP
    >>> served = tf.saved_model.load("runs/final/export")  # no keras_enas needed
    >>> served.sequence_log_likelihood(tf.constant([[0, 5, 7]]))["perplexity"]  # doctest: +SKIP
    """
    module = _Serving(model)
    signatures = {
        "next_token_log_probs": module.next_token_log_probs.get_concrete_function(),
        "sequence_log_likelihood": module.sequence_log_likelihood.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    write_architecture_files(export_dir, space, arc, extra)
    return export_dir
