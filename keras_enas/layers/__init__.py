"""Shared-weight Keras layers: hold every candidate's weights, run the one the arc picks."""

from keras_enas.layers.locked_dropout import dropout_mask
from keras_enas.layers.shared_rnn_cell import SharedRNNCell

__all__ = ["SharedRNNCell", "dropout_mask"]
