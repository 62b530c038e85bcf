"""Child models: the shared-weight models searched over (and, later, the fixed ones)."""

from keras_enas.models.shared_rnn_lm import SharedRNNLM

__all__ = ["SharedRNNLM"]
