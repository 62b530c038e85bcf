"""Conv blocks of the micro networks: BN flavours, ReLU-conv-BN, factorized reduction."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas import distribute

__all__ = [
    "batch_stat_norm",
    "BatchStatNorm",
    "BN_EPSILON",
    "BN_MOMENTUM",
    "CalibrateInputs",
    "conv2d",
    "FactorizedReduction",
    "make_norm",
    "ReLUConvBN",
    "sum_of_squares",
]

BN_MOMENTUM = 0.9  # micro_child.py / image_ops.batch_norm: decay 0.9
BN_EPSILON = 1e-3  # image_ops.batch_norm (the per-path sep-conv BN of the search uses 1e-5)


def sum_of_squares(weights):
    """Σw² over every tensor of `weights` (the L2 penalty of the original codes).

    One fused `L2Loss` kernel per tensor (Σw²/2), whose gradient is one multiply,
    instead of square + sum forward and tile + two multiplies backward: fewer passes
    over the shared weight banks (millions of scalars) and fewer graph nodes.
    """
    return 2.0 * tf.add_n([tf.nn.l2_loss(w) for w in weights])


def _check_filters(filters, even=False):
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)):
        raise TypeError(f"`filters` must be an int. Received: filters={filters!r}")
    if filters < 1 or (even and filters % 2):
        bound = "a positive even int" if even else ">= 1"
        raise ValueError(f"`filters` must be {bound}. Received: filters={filters}")
    return int(filters)


def batch_stat_norm(x, gamma, beta, epsilon=BN_EPSILON):
    """Batch norm of an NHWC tensor with the minibatch's own mean and variance.

    `x` may be bfloat16 or float16 (mixed precision): the statistics, `gamma` and
    `beta` are float32, as the fused kernel requires, and the result has `x`'s dtype.
    """
    gamma, beta = tf.cast(gamma, tf.float32), tf.cast(beta, tf.float32)
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon, is_training=True)
    return y


@keras.saving.register_keras_serializable(package="keras_enas")
class BatchStatNorm(keras.layers.Layer):
    """Batch norm that always normalises with the current minibatch's statistics.

    The micro search child (reference §2(c), §6.8) forces `is_training=True`, so
    every BN of the shared network uses batch statistics in training, validation,
    test and reward evaluation alike; no moving averages are kept.

    Args:
        epsilon: added to the variance.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        x: `(B, H, W, C)` tensor.

    Returns:
        `γ · (x − mean_B) / sqrt(var_B + ε) + β`, same shape.
    """

    def __init__(self, epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, x):
        return batch_stat_norm(x, self.gamma, self.beta, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def make_norm(batch_stats, name=None):
    """`BatchStatNorm` (search child) or Keras BN with the original's decay/epsilon."""
    if batch_stats:
        return BatchStatNorm(name=name)
    # Under a strategy with several replicas the statistics are those of the global
    # batch (all-reduced), as on one device (see `distribute.sync_batch_norm`).
    return keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        synchronized=distribute.sync_batch_norm(),
        name=name,
    )


def conv2d(filters, kernel_size=1, strides=1, padding="same", name=None):
    """A bias-free, He-normal initialised `Conv2D` (the original's `create_weight`)."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )


@keras.saving.register_keras_serializable(package="keras_enas")
class ReLUConvBN(keras.layers.Layer):
    """ReLU → k×k conv (no bias) → BN: the original's channel calibration / `layer_base`.

    Args:
        filters: output channels.
        kernel_size: conv kernel size.
        batch_stats: use `BatchStatNorm` (search) instead of Keras BN (fixed model).
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, filters, kernel_size=1, batch_stats=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.kernel_size, self.batch_stats = kernel_size, bool(batch_stats)
        self.conv = conv2d(self.filters, kernel_size, name="conv")
        self.norm = make_norm(self.batch_stats, name="bn")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        return self.norm(self.conv(tf.nn.relu(x)), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "batch_stats": self.batch_stats,
        }


@keras.saving.register_keras_serializable(package="keras_enas")
class FactorizedReduction(keras.layers.Layer):
    """Halves H and W without dropping pixels (reference §2(b), `_factorized_reduction`).

    Path 1 takes the even pixels `x[:, ::2, ::2]`, path 2 the odd ones (pad
    bottom/right by one, crop top/left, subsample); each goes through its own 1×1
    conv to `filters / 2`; the two are concatenated and batch-normalised. No ReLU
    (callers add one where the original does).

    Args:
        filters: output channels, a positive even int.
        batch_stats: use `BatchStatNorm` (search) instead of Keras BN.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        x: `(B, H, W, C)`.

    Returns:
        `(B, ceil(H/2), ceil(W/2), filters)`.

    Raises:
        ValueError: if `filters` is not a positive even int.
    """

    def __init__(self, filters, batch_stats=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters, even=True)
        self.batch_stats = bool(batch_stats)
        self.conv1 = conv2d(self.filters // 2, name="path1_conv")
        self.conv2 = conv2d(self.filters // 2, name="path2_conv")
        self.norm = make_norm(self.batch_stats, name="bn")

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)
        self.norm.build((*input_shape[:-1], self.filters))

    def call(self, x, training=None):
        # A 1×1 conv at stride 2 reads exactly x[:, ::2, ::2]; its gradient is a
        # strided conv's, where the subsampling slices' `StridedSliceGrad` was the
        # slowest op of the CIFAR steps on CPU (README, "Where the time went").
        def conv(inputs, layer):
            kernel = tf.cast(layer.kernel, inputs.dtype)
            return tf.nn.conv2d(inputs, kernel, 2, "VALID")

        path2 = tf.slice(
            tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), [0, 1, 1, 0], [-1, -1, -1, -1]
        )  # pixels (1, 1), (1, 3), ...; zero past the edge
        out = tf.concat([conv(x, self.conv1), conv(path2, self.conv2)], axis=-1)
        return self.norm(out, training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "batch_stats": self.batch_stats}


@keras.saving.register_keras_serializable(package="keras_enas")
class CalibrateInputs(keras.layers.Layer):
    """Brings a cell's two inputs to `filters` channels and one spatial size.

    `_maybe_calibrate_size`: input 0 gets ReLU + factorized reduction if it is
    twice as large as input 1, else ReLU + 1×1 conv + BN if its channel count
    differs from `filters`; input 1 gets ReLU + 1×1 conv + BN if its channel count
    differs. Decided once from the static input shapes.

    Args:
        filters: the cell's width F.
        batch_stats: use `BatchStatNorm` (search) instead of Keras BN.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `[x0, x1]`, the outputs of cells i−2 and i−1.

    Returns:
        `[x0, x1]`, both `(B, H1, W1, filters)`.

    Raises:
        ValueError: if input 0 is neither as large as input 1 nor twice as large.
    """

    def __init__(self, filters, batch_stats=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.batch_stats = bool(batch_stats)

    def build(self, input_shape):
        (_, h0, w0, c0), (_, h1, w1, c1) = input_shape
        if (h0, w0) != (h1, w1) and ((h0 + 1) // 2, (w0 + 1) // 2) != (h1, w1):
            raise ValueError(
                "Input 0 must be as large as input 1 or twice as large. Received "
                f"spatial sizes {(h0, w0)} and {(h1, w1)}"
            )
        self.calibrate_x = None
        if (h0, w0) != (h1, w1):
            self.calibrate_x = FactorizedReduction(self.filters, self.batch_stats, name="pool_x")
        elif c0 != self.filters:
            self.calibrate_x = ReLUConvBN(self.filters, batch_stats=self.batch_stats, name="pool_x")
        self.reduce_x = (h0, w0) != (h1, w1)
        self.calibrate_y = None
        if c1 != self.filters:
            self.calibrate_y = ReLUConvBN(self.filters, batch_stats=self.batch_stats, name="pool_y")
        for layer, shape in (
            (self.calibrate_x, input_shape[0]),
            (self.calibrate_y, input_shape[1]),
        ):
            if layer is not None:
                layer.build(shape)

    def call(self, inputs, training=None):
        x, y = inputs
        if self.reduce_x:
            x = self.calibrate_x(tf.nn.relu(x), training=training)
        elif self.calibrate_x is not None:
            x = self.calibrate_x(x, training=training)
        if self.calibrate_y is not None:
            y = self.calibrate_y(y, training=training)
        return [x, y]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "batch_stats": self.batch_stats}
