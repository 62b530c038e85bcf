"""The six macro ops as ONE traced function that every layer of the shared network reuses."""

import tensorflow as tf

from keras_enas.layers.micro_ops import max_pool3

__all__ = ["BN_EPSILON", "BN_MOMENTUM", "traced_macro_layer"]

BN_MOMENTUM = 0.9  # reference §4.1: the original's batch norm decay 0.9, epsilon 1e-5.
BN_EPSILON = 1e-5


def _bn_relu(x, gamma, beta, stats, training):
    """Batch norm → ReLU as `keras.layers.BatchNormalization` (momentum 0.9) computes it.

    Training: batch statistics, and the moving averages (`stats`: the resource handles
    of two float32 variables) move by `BN_MOMENTUM`; else the moving averages
    normalise. Fused kernels: statistics and `gamma`/`beta` in float32, the result in
    `x`'s dtype.
    """
    mean_handle, variance_handle = stats
    moving_mean, moving_variance = (
        tf.raw_ops.ReadVariableOp(resource=h, dtype=tf.float32) for h in stats
    )
    gamma, beta = tf.cast(gamma, tf.float32), tf.cast(beta, tf.float32)
    if not training:
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, moving_mean, moving_variance, BN_EPSILON, is_training=False
        )
        return tf.nn.relu(y)
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, gamma, beta, epsilon=BN_EPSILON, is_training=True
    )
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
    variance = variance * (count - 1.0) / count  # the kernel's is Bessel-corrected; Keras' not
    for handle, average, batch in (
        (mean_handle, moving_mean, mean),
        (variance_handle, moving_variance, variance),
    ):
        tf.raw_ops.AssignVariableOp(
            resource=handle, value=average * BN_MOMENTUM + batch * (1.0 - BN_MOMENTUM)
        )
    return tf.nn.relu(y)


def _conv(x, kernel):
    return tf.nn.conv2d(x, tf.cast(kernel, x.dtype), 1, "SAME")


def _branch(op, x, weights, stats, training):
    """Op `op` (a `MACRO_OPS` index): 1×1 conv + BN + ReLU, then the op itself."""
    x = _bn_relu(_conv(x, weights[0]), weights[1], weights[2], stats[:2], training)
    if op in (0, 2):  # conv3, conv5
        return _bn_relu(_conv(x, weights[3]), weights[4], weights[5], stats[2:], training)
    if op in (1, 3):  # sep3, sep5: depthwise (k, k, C, 1), pointwise (1, 1, C, F)
        depthwise, pointwise = (tf.cast(w, x.dtype) for w in weights[3:5])
        x = tf.nn.separable_conv2d(x, depthwise, pointwise, [1, 1, 1, 1], "SAME")
        return _bn_relu(x, weights[5], weights[6], stats[2:], training)
    if op == 4:
        return tf.nn.avg_pool2d(x, 3, 1, "SAME")
    return max_pool3(x)  # with a oneDNN gradient inside a branch


@tf.function(experimental_attributes={"_noinline": True})
def _macro_layer(x, op, weights, stats, training):
    def branch(i):
        return lambda: _branch(i, x, weights[i], stats[i], training)

    return tf.switch_case(op, [branch(i) for i in range(len(weights))])


_LAYER_FUNCTIONS = {}  # traced layers by argument specs


def traced_macro_layer(x, op, weights, stats, training):
    """One macro layer's sampled op, run by ONE function shared by every layer.

    The function is traced once per (dtype, weight shapes, `training`), for inputs
    of any batch, height and width, and held as one `ConcreteFunction`, so the 12
    layers of a search share one forward function, one gradient and one graph
    optimisation instead of 12 `switch_case`s of Keras layers each. Not inlined.
    The batch norms' moving averages are passed as resource handles (not as
    variables, which a cached function would keep referring to after their model is
    gone) and updated inside the sampled branch only (the others' do not move), as
    Keras' layers did.

    Args:
        x: `(B, H, W, C)` input.
        op: int32 scalar, the op id in `[0, 6)` (`MACRO_OPS` order).
        weights: per op, its tensors in order: 1×1 kernel, γ, β; then conv: k×k
            kernel, γ, β; sep: depthwise `(k, k, C, 1)`, pointwise `(1, 1, C, F)`,
            γ, β; pools: nothing more.
        stats: per op, its batch norms' float32 `tf.Variable`s `(moving mean,
            moving variance)` in the same order (2 or 4 per op).
        training: Python bool: batch statistics (and moving averages updated) or
            the moving averages.

    Returns:
        `(B, H, W, F)`, with `x`'s static batch, height and width.
    """
    x_spec = tf.TensorSpec([None, None, None, x.shape[-1]], x.dtype)
    w_specs = tf.nest.map_structure(lambda w: tf.TensorSpec(w.shape, w.dtype), weights)
    handles = [[v.handle for v in op_stats] for op_stats in stats]
    h_specs = tf.nest.map_structure(lambda _: tf.TensorSpec([], tf.resource), handles)
    key = (repr((x_spec, w_specs, h_specs)), bool(training))
    if key not in _LAYER_FUNCTIONS:
        _LAYER_FUNCTIONS[key] = _macro_layer.get_concrete_function(
            x_spec, tf.TensorSpec([], tf.int32), w_specs, h_specs, bool(training)
        )
    out = _LAYER_FUNCTIONS[key](x, op, weights, handles, bool(training))
    out.set_shape(x.shape[:-1].concatenate([weights[0][0].shape[-1]]))
    return out
