"""`SharedMacroLayer`: the six candidate ops of one macro layer; only the sampled one runs."""

import keras
import tensorflow as tf

from keras_enas import distribute
from keras_enas.layers.cell_blocks import conv2d as conv
from keras_enas.layers.cell_blocks import sum_of_squares
from keras_enas.layers.micro_ops import max_pool3
from keras_enas.layers.shared_macro_ops import BN_EPSILON, BN_MOMENTUM, traced_macro_layer
from keras_enas.search_spaces.macro import MACRO_OPS

__all__ = ["batch_norm", "BN_EPSILON", "BN_MOMENTUM", "SharedMacroLayer"]


def batch_norm(name=None):
    """A `BatchNormalization` with the original macro settings (decay 0.9, ε = 1e-5)."""
    # Under a strategy with several replicas the statistics are those of the global
    # batch (all-reduced), as on one device (see `distribute.sync_batch_norm`).
    return keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        synchronized=distribute.sync_batch_norm(),
        name=name,
    )


def _branch_layers(op, filters):
    """The layers of one search-time op (reference §2(b), `_conv_branch` / `_pool_branch`)."""
    layers = [conv(filters, 1, name=f"{op}_1x1"), batch_norm(f"{op}_1x1_bn")]
    if op.startswith("conv"):
        layers += [conv(filters, int(op[-1]), name=op), batch_norm(f"{op}_bn")]
    elif op.startswith("sep"):
        size = int(op[-1])
        layers += [
            keras.layers.SeparableConv2D(
                filters,
                size,
                padding="same",
                use_bias=False,
                depthwise_initializer="he_normal",
                pointwise_initializer="he_normal",
                name=op,
            ),
            batch_norm(f"{op}_bn"),
        ]
    elif op == "avgpool3":
        layers.append(keras.layers.AveragePooling2D(3, strides=1, padding="same", name=op))
    else:
        layers.append(keras.layers.MaxPooling2D(3, strides=1, padding="same", name=op))
    return layers


def _in_xla_context():
    """Whether the layer is being traced for an XLA compilation (`jit_compile=True`)."""
    from tensorflow.python.ops import control_flow_util  # no public equivalent

    graph = tf.compat.v1.get_default_graph()
    return not tf.executing_eagerly() and control_flow_util.GraphOrParentsInXlaContext(graph)


class SharedMacroLayer(keras.layers.Layer):
    """Shared weights ω of one macro layer: one weight set per op (ENAS §2.3).

    The ops, in the original's id order (`MACRO_OPS`), as the search runs them
    (reference §2(b) "Op implementation during search"):

    - conv k×k (ids 0, 2): 1×1 conv + BN + ReLU, then k×k conv + BN + ReLU;
    - sep k×k (ids 1, 3): 1×1 conv + BN + ReLU, then depthwise k×k (multiplier 1)
      + pointwise 1×1 + BN + ReLU;
    - avg / max pool (ids 4, 5): 1×1 conv + BN + ReLU, then 3×3 pool, stride 1.

    `tf.switch_case` runs ONLY the sampled op, so the other ops' weights get zero
    gradient and their batch-norm averages do not move. The Keras layers hold the
    weights; every layer of the network runs them through one traced function
    (`shared_macro_ops.traced_macro_layer`), which computes what the layers compute
    (`_run`, kept as the reference the tests compare with). (The original built all six
    and, through a late-binding closure, always returned max-pool: reference §6.4.)
    Each op's batch norms keep their own moving averages, updated only on the steps
    that sample the op; evaluation (`training=False`) uses them, as the original
    macro search does for its reward.

    Args:
        filters: output channels F (the search keeps F constant).
        **kwargs: `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        x: `(B, H, W, C)` input (the previous layer's output).
        op: int32 scalar tensor, the op id in `[0, 6)`.
        training: whether batch norm uses batch statistics.

    Returns:
        `(B, H, W, filters)`.

    Example:
    >>> layer = SharedMacroLayer(8)
    >>> layer(tf.zeros((2, 8, 8, 8)), tf.constant(3)).shape
    TensorShape([2, 8, 8, 8])
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"`filters` must be an int >= 1. Received: filters={filters!r}")
        self.filters = filters
        self.branches = [_branch_layers(op, filters) for op in MACRO_OPS]

    def build(self, input_shape):
        # Every variable is made here, never inside a switch_case branch.
        for layers in self.branches:
            shape = input_shape
            for layer in layers:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def _run(self, index, x, training):
        layers = self.branches[index]
        for layer in layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                x = tf.nn.relu(layer(x, training=training))
            elif isinstance(layer, keras.layers.MaxPooling2D):
                x = max_pool3(x)  # the layer's pool, with a oneDNN gradient in a branch
            else:
                x = layer(x)
        return x

    def branch_weights(self, index):
        """The trainable weights of op `index` (all of them are used when it is sampled)."""
        return [w for layer in self.branches[index] for w in layer.trainable_weights]

    def op_tensors(self, index):
        """Op `index`'s `(weights, moving statistics)` as `traced_macro_layer` takes them."""
        layers = self.branches[index]
        weights = [layers[0].kernel, layers[1].gamma, layers[1].beta]
        if len(layers) == 4 and isinstance(layers[2], keras.layers.SeparableConv2D):
            weights += [layers[2].depthwise_kernel, layers[2].pointwise_kernel]
        elif len(layers) == 4:
            weights.append(layers[2].kernel)
        if len(layers) == 4:
            weights += [layers[3].gamma, layers[3].beta]
        norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
        stats = [v.value for bn in norms for v in (bn.moving_mean, bn.moving_variance)]
        return [w.value for w in weights], stats

    def call(self, x, op, training=False):
        if tf.distribute.get_strategy().num_replicas_in_sync > 1 or _in_xla_context():
            # Mirrored variables give no resource handle outside a replica context (the
            # build), and the traced function's gradient holds optionals, which XLA cannot
            # compile: then the sampled op runs through the Keras layers.
            branches = [lambda i=i: self._run(i, x, training) for i in range(len(MACRO_OPS))]
            return tf.switch_case(op, branches)
        weights, stats = zip(*(self.op_tensors(i) for i in range(len(MACRO_OPS))))
        # `training` is a Python value (None outside fit/evaluate): one trace per value.
        return traced_macro_layer(x, op, list(weights), list(stats), bool(training))

    def l2_penalty(self, op):
        """Σw² over the trainable weights of op `op` only (zero gradient for the others).

        A one-hot weighted sum rather than a `switch_case`: the squares are cheap,
        and a `switch_case` gradient per layer lengthened the first step's trace.
        """
        mask = tf.one_hot(op, len(MACRO_OPS))
        return tf.add_n(
            [mask[i] * sum_of_squares(self.branch_weights(i)) for i in range(len(MACRO_OPS))]
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}
