"""Keras layers of keras_enas: shared-weight layers, and the layers of the fixed networks.

Importing `keras_enas.layers` registers every custom layer a `model.keras` written by
`train_ptb` or `train_cifar10` refers to, so that `keras.saving.load_model` finds them:

```python
import keras
import keras_enas.layers  # noqa: F401 (registers the custom layers)
model = keras.saving.load_model("runs/final/model.keras")
```
"""

from keras_enas.layers.aux_head import AuxHead
from keras_enas.layers.cell_blocks import (
    BatchStatNorm,
    CalibrateInputs,
    FactorizedReduction,
    ReLUConvBN,
)
from keras_enas.layers.drop_path import ScheduledDropPath
from keras_enas.layers.fixed_micro_cell import SepConv
from keras_enas.layers.fixed_rnn_cell import FixedRNNCell
from keras_enas.layers.locked_dropout import dropout_mask
from keras_enas.layers.shared_rnn_cell import SharedRNNCell
from keras_enas.layers.tied_embedding import TiedEmbedding

__all__ = [
    "AuxHead",
    "BatchStatNorm",
    "CalibrateInputs",
    "FactorizedReduction",
    "FixedRNNCell",
    "ReLUConvBN",
    "ScheduledDropPath",
    "SepConv",
    "SharedRNNCell",
    "TiedEmbedding",
    "dropout_mask",
]
