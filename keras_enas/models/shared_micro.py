"""`SharedMicroCNN`: the shared-weight CIFAR-10 network of the micro (cell) search (the child)."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas.layers.aux_head import AuxHead
from keras_enas.layers.cell_blocks import (
    BatchStatNorm,
    CalibrateInputs,
    FactorizedReduction,
    conv2d,
)
from keras_enas.layers.shared_micro_cell import SharedMicroCell
from keras_enas.search_spaces.micro import MicroSpace

__all__ = ["check_layers", "pool_layers", "SharedMicroCNN"]


def pool_layers(num_layers):
    """Indices of the two reduction cells among `num_layers + 2`: `[n, 2n + 1]`, n = L // 3."""
    n = num_layers // 3
    return [n, 2 * n + 1]


def check_layers(num_layers, filters):
    for name, value, low in (("num_layers", num_layers, 3), ("filters", filters, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
        if value < low:
            raise ValueError(f"`{name}` must be >= {low}. Received: {name}={value}")


class SharedMicroCNN(keras.Model):
    """Every micro network of a `MicroSpace`, weights per (cell, node, [slot,] input, op).

    `micro_child.py` without a fixed arc (reference §2(c)): stem 3×3 conv
    (3 → 3F) + BN used as both first inputs; `num_layers + 2` cells, the two at
    `pool_layers(num_layers)` being reduction cells, where F doubles (20 → 40 →
    80 in the search). Before a reduction cell the previous output `x` goes through
    a factorized reduction and the cell's inputs become `[x, FR(x)]` (the output
    of cell i−2 is dropped); calibration then reduces input 0 with a second,
    separately parameterised ReLU + FR, and the cell runs at stride 1. Head: ReLU
    → global average pool → dropout → FC (no bias).

    Every cell owns its `SharedMicroCell` weights; normal cells read the normal
    half of the arc, reduction cells the reduction half. Batch norm always uses
    the minibatch's statistics, in training and in evaluation (the original forces
    `is_training=True` in the search, so the controller's reward is measured with
    batch statistics too); there are no moving averages.

    The auxiliary head (`use_aux_head`) follows cell `pool_layers[-1] + 1`; its
    logits are returned beside the main ones and its weights are ordinary trainable
    weights (the original never updated them, reference §6.7). There is no
    `l2_penalty(arc)`: like the original, the search's L2 covers every weight.

    Args:
        space: a `MicroSpace`.
        num_layers: L; the network has L + 2 cells (6 in the paper's search).
        filters: F of the first stack (20 in the search).
        dropout: dropout rate before the FC (1 − keep_prob; 0.1 in the search).
        use_aux_head: whether to build and return the auxiliary head.
        num_classes: number of classes.
        op_selection: see `SharedMicroCell`.
        weight_sharing: `"fine"` (per node, slot and input, as the original code)
            or `"coarse"` (per node and input); see `SharedMicroCell`.
        recompute_cells: if True, every cell's activations are recomputed in the
            backward pass instead of kept (gradient checkpointing per cell): the
            same gradients with less peak memory and a longer step; see
            `SharedMicroCell`.
        sep_conv_recompute: what every sep conv's backward pass recomputes instead
            of keeping: `"none"` (default), `"elementwise"` or `"depthwise"`; the
            same gradients; see `SharedMicroCell`.
        seed: int seed of the dropout masks.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: float32 `(B, H, W, 3)` standardised images.
        arc: int32 `(arc_length,)` architecture tensor.
        training: whether to apply dropout (BN uses batch statistics either way).

    Returns:
        `(logits (B, num_classes), aux_logits (B, num_classes) or None)`.

    Raises:
        TypeError / ValueError: on a wrong space or bad sizes.

    Example:
    >>> space = MicroSpace(num_nodes=5)
    >>> cnn = SharedMicroCNN(space, num_layers=3, filters=4)
    >>> logits, aux = cnn(tf.zeros((2, 8, 8, 3)), space.random_arc(0))
    >>> logits.shape, aux.shape
    (TensorShape([2, 10]), TensorShape([2, 10]))
    """

    def __init__(
        self,
        space,
        num_layers=6,
        filters=20,
        dropout=0.1,
        use_aux_head=True,
        num_classes=10,
        op_selection="compute_all",
        weight_sharing="fine",
        recompute_cells=False,
        sep_conv_recompute="none",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if getattr(space, "name", None) != "micro" or not hasattr(space, "token_layout"):
            raise TypeError(f"`space` must be a MicroSpace. Received: {space!r}")
        check_layers(num_layers, filters)
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        self.space, self.num_layers, self.filters = space, int(num_layers), int(filters)
        self.num_classes, self.use_aux_head = int(num_classes), bool(use_aux_head)
        self.pool_layers = pool_layers(self.num_layers)
        self.aux_head_index = self.pool_layers[-1] + 1
        self.stem_conv = conv2d(3 * self.filters, 3, name="stem_conv")
        self.stem_bn = BatchStatNorm(name="stem_bn")
        self.reductions, self.calibrations, self.cells = [], [], []
        width = self.filters
        for layer_id in range(self.num_layers + 2):
            reduce = layer_id in self.pool_layers
            if reduce:
                width *= 2
                self.reductions.append(
                    FactorizedReduction(width, batch_stats=True, name=f"reduce_{layer_id}")
                )
            self.calibrations.append(
                CalibrateInputs(width, batch_stats=True, name=f"calibrate_{layer_id}")
            )
            self.cells.append(
                SharedMicroCell(
                    space.num_nodes,
                    width,
                    space,
                    int(reduce),
                    op_selection,
                    weight_sharing,
                    recompute=recompute_cells,
                    sep_conv_recompute=sep_conv_recompute,
                    name=f"cell_{layer_id}",
                )
            )
        self.aux_head = (
            AuxHead(self.num_classes, batch_stats=True, name="aux_head")
            if self.use_aux_head
            else None
        )
        self.dropout = keras.layers.Dropout(dropout, seed=seed)
        self.fc = keras.layers.Dense(
            self.num_classes, use_bias=False, kernel_initializer="he_normal", name="fc"
        )

    def cell_outputs(self, images, arc):
        """`(outputs of the num_layers + 2 cells, aux_logits or None)`."""
        x = self.stem_bn(self.stem_conv(images))
        layers, outputs, aux_logits = [x, x], [], None
        reductions = iter(self.reductions)
        for layer_id, (calibrate, cell) in enumerate(zip(self.calibrations, self.cells)):
            if layer_id in self.pool_layers:
                x = next(reductions)(x)  # inputs [out_{i-1}, FR(out_{i-1})]
                layers = [layers[-1], x]
            x = cell(calibrate(layers), arc)
            layers = [layers[-1], x]
            outputs.append(x)
            if self.aux_head is not None and layer_id == self.aux_head_index:
                aux_logits = self.aux_head(x)
        return outputs, aux_logits

    def call(self, images, arc, training=False):
        outputs, aux_logits = self.cell_outputs(images, arc)
        x = tf.reduce_mean(tf.nn.relu(outputs[-1]), axis=[1, 2])
        return self.fc(self.dropout(x, training=training)), aux_logits

    def get_config(self):
        return {
            "space": self.space.get_config(),
            "num_layers": self.num_layers,
            "filters": self.filters,
            "dropout": self.dropout.rate,
            "use_aux_head": self.use_aux_head,
            "num_classes": self.num_classes,
            "op_selection": self.cells[0].op_selection,
            "weight_sharing": self.cells[0].weight_sharing,
            "recompute_cells": self.cells[0].recompute,
            "sep_conv_recompute": self.cells[0].sep_conv_recompute,
            "seed": self.dropout.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(MicroSpace(**config.pop("space")), **config)
