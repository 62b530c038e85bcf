"""One fixed micro cell (only the chosen ops, strided in reduction cells) for functional models."""

import keras

from keras_enas.layers import cell_blocks
from keras_enas.layers.drop_path import ScheduledDropPath

__all__ = ["fixed_cell", "fixed_op", "SepConv"]


@keras.saving.register_keras_serializable(package="keras_enas")
class SepConv(keras.layers.Layer):
    """2 × (ReLU → separable k×k conv (depth multiplier 1, no bias) → BN); the first strided.

    `micro_child._fixed_conv`.

    Args:
        filters: output channels.
        kernel_size: 3 (sep3) or 5 (sep5).
        strides: stride of the first separable conv.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, filters, kernel_size, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), strides
        self.convs = [
            keras.layers.SeparableConv2D(
                self.filters,
                kernel_size,
                strides=strides if i == 0 else 1,
                padding="same",
                use_bias=False,
                depthwise_initializer="he_normal",
                pointwise_initializer="he_normal",
                name=f"sep_conv_{i}",
            )
            for i in range(2)
        ]
        self.norms = [cell_blocks.make_norm(False, name=f"bn_{i}") for i in range(2)]

    def build(self, input_shape):
        for conv, norm in zip(self.convs, self.norms):
            conv.build(input_shape)
            input_shape = conv.compute_output_shape(input_shape)
            norm.build(input_shape)

    def call(self, x, training=None):
        for conv, norm in zip(self.convs, self.norms):
            x = norm(conv(keras.ops.relu(x)), training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
        }


def fixed_op(x, op, filters, strides, name):
    """`op` (a `MICRO_OPS` name) on the KerasTensor `x`, as `micro_child._fixed_layer`.

    A strided identity is a factorized reduction; a strided pool is a 3×3 pool
    with stride 2. Pools and identity add ReLU + 1×1 conv + BN when the input
    channel count differs from `filters`.
    """
    if op in ("sep3", "sep5"):
        return SepConv(filters, int(op[-1]), strides, name=name)(x)
    channels = x.shape[-1]
    if op == "identity":
        if strides > 1:
            x = cell_blocks.FactorizedReduction(filters, name=f"{name}_reduce")(x)
    else:
        pool = keras.layers.AveragePooling2D if op == "avgpool3" else keras.layers.MaxPooling2D
        x = pool(3, strides, padding="same", name=name)(x)
    if channels != filters:
        x = cell_blocks.ReLUConvBN(filters, name=f"{name}_conv")(x)
    return x


def fixed_cell(inputs, cell, filters, strides, drop_path=None, seed=None, name="cell"):
    """Builds one cell of a fixed micro network on KerasTensors.

    Calibration, then "layer_base" (ReLU → 1×1 conv → BN on input 1), then each
    node `op_x(x_in) + op_y(y_in)`; ops reading the cell inputs use `strides`.
    Outputs of ops other than identity pass through `ScheduledDropPath`. The cell
    output is the concat of the loose ends, the unused cell inputs included (those
    larger than the rest are factorized-reduced first): `len(loose_ends) × filters`
    channels, no projection.

    Args:
        inputs: `[x0, x1]`, the outputs of cells i−2 and i−1.
        cell: a `micro.Cell`.
        filters: the cell's width F.
        strides: 1 (normal cell) or 2 (reduction cell).
        drop_path: None, or `(drop_path_keep_prob, layer_id, num_cells)`.
        seed: int seed; each drop-path layer gets its own `seed + k`.
        name: prefix of the layer names.

    Returns:
        The cell output, a KerasTensor.
    """
    x0, x1 = cell_blocks.CalibrateInputs(filters, name=f"{name}_calibrate")(inputs)
    nodes = [x0, cell_blocks.ReLUConvBN(filters, name=f"{name}_layer_base")(x1)]
    for b, pair in enumerate(cell.nodes, start=2):
        outs = []
        for slot, (inp, op) in zip("xy", pair):
            y = fixed_op(
                nodes[inp], op, filters, strides if inp < 2 else 1, name=f"{name}_node{b}_{slot}"
            )
            if drop_path is not None and op != "identity":
                layer_seed = None if seed is None else seed + 2 * b + (slot == "y")
                y = ScheduledDropPath(
                    *drop_path, seed=layer_seed, name=f"{name}_node{b}_{slot}_drop_path"
                )(y)
            outs.append(y)
        nodes.append(keras.layers.Add(name=f"{name}_node{b}")(outs))
    loose = [nodes[i] for i in cell.loose_ends]
    size = min(t.shape[1] for t in loose)
    loose = [
        cell_blocks.FactorizedReduction(filters, name=f"{name}_combine_reduce_{i}")(t)
        if t.shape[1] > size
        else t
        for i, t in zip(cell.loose_ends, loose)
    ]
    return keras.layers.Concatenate(name=f"{name}_out")(loose) if len(loose) > 1 else loose[0]
