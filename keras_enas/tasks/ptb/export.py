"""SavedModel (and TFLite) export of a final language model, `architecture.json`, drawing."""

import os
import tempfile

import tensorflow as tf

from keras_enas.run import files, records
from keras_enas.tasks import serving
from keras_enas.tasks.ptb import architecture as arch_lib
from keras_enas.tasks.ptb.lm_serving import LMServing

VOCAB_FILE = "vocab.txt"
TFLITE_FILE = "model.tflite"

__all__ = ["export_ptb_model", "write_architecture_files"]


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


def export_ptb_model(model, export_dir, space=None, arc=None, extra=None, vocab=None, tflite=False):
    """Exports a fixed LM as a SavedModel that serves without Keras or keras_enas.

    Signatures (also callable as attributes of `tf.saved_model.load(export_dir)`):

    - `next_token_log_probs(token_ids int32 (B, T), state float32 (B, S))` →
      `{"log_probs": (B, T, V), "state": (B, S)}`: log p(next token) at every
      position, and the state to carry into the next call (zeros to start).
    - `sequence_log_likelihood(token_ids int32 (B, T))` →
      `{"log_likelihood": (B,), "perplexity": (B,)}`: from a zero state, the summed
      log-probability of tokens 1..T−1 given their prefixes (token 0 is context
      only; start PTB sentences with `<eos>`), and exp(−that / (T − 1)); a row of
      one token scores 0 (perplexity 1).
    - with `vocab`: `sequence_log_likelihood_words(words string (B, T))` → the same
      plus `token_ids (B, T)`; a word not in the vocabulary counts as `<unk>` (and is
      refused when the vocabulary has no `<unk>`). The vocabulary ships as
      `assets/vocab.txt` (line k: the word of id k).

    A request of another rank, with B or T = 0, ids outside [0, V), a state of
    another shape or not finite, or of another dtype is refused with
    `InvalidArgumentError`, as is an answer that would not be finite.
    `architecture.json` (with `vocab_size` V and `state_size` S) and the drawing
    (`cell.png`) are written into `export_dir`;
    `tflite=True` also writes `model.tflite` (`next_token_log_probs` without the
    request checks).

    Args:
        model: a model from `build_fixed_model`.
        export_dir: the SavedModel directory.
        space, arc: the architecture (None for the LSTM baseline).
        extra: optional dict merged into `architecture.json` (e.g. final perplexities).
        vocab: the V words in id order (`PTBData.vocab`), or None (no words signature).
        tflite: whether to write `model.tflite` too.

    Returns:
        `export_dir`.

    Raises:
        ValueError: if `vocab` does not hold V unique one-line words, or the TFLite
            conversion fails.

    Example:
    >>> export_ptb_model(lm, "runs/final/export", space, arc, vocab=data.vocab)  # doctest: +SKIP
    >>> served = tf.saved_model.load("runs/final/export")  # no keras_enas needed
    >>> served.sequence_log_likelihood(tf.constant([[0, 5, 7]]))["perplexity"]  # doctest: +SKIP
    """
    vocab_size = model.outputs[0].shape[-1]
    if vocab is not None and len(vocab) != vocab_size:
        raise ValueError(
            f"`vocab` must hold the model's {vocab_size} words. Received {len(vocab)} words."
        )
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = None if vocab is None else serving.write_lines(tmp, VOCAB_FILE, vocab)
        module = LMServing(model, vocab_file)
        signatures = {
            "next_token_log_probs": module.next_token_log_probs.get_concrete_function(),
            "sequence_log_likelihood": module.sequence_log_likelihood.get_concrete_function(),
        }
        if vocab is not None:
            words = module.sequence_log_likelihood_words.get_concrete_function()
            signatures["sequence_log_likelihood_words"] = words
        tf.saved_model.save(module, export_dir, signatures=signatures)
    if tflite:
        lite = tf.function(module.lite_next_token_log_probs).get_concrete_function(
            # Batch 1: TFLite lowers the RNN's tensor list only with a static element shape.
            tf.TensorSpec([1, None], tf.int32, name="token_ids"),
            tf.TensorSpec([1, module.width], tf.float32, name="state"),
        )
        serving.write_tflite(lite, module.model_variables, os.path.join(export_dir, TFLITE_FILE))
    sizes = {"vocab_size": vocab_size, "state_size": module.width}
    write_architecture_files(export_dir, space, arc, {**sizes, **(extra or {})})
    return export_dir
