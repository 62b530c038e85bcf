"""The five micro ops on shared weights: per-slot `switch_case`, or all at once, vectorised."""

import functools

import tensorflow as tf

from keras_enas.layers import cell_blocks

__all__ = [
    "compute_all_pair",
    "max_pool3",
    "NUM_OPS",
    "op_masks",
    "pool_or_identity",
    "select_sep_weights",
    "SEP_BN_EPSILON",
    "sep_conv",
    "split_channels",
    "switch_op",
]

NUM_OPS = 5  # MICRO_OPS: 0 sep3, 1 sep5, 2 avgpool3, 3 maxpool3, 4 identity
SEP_BN_EPSILON = 1e-5  # micro_child._enas_conv: fused_batch_norm(epsilon=1e-5)


def sep_conv(x, stacks):
    """2 × (ReLU → depthwise k×k (multiplier 1) → pointwise 1×1 → BN with batch stats).

    Args:
        x: `(B, H, W, C)`.
        stacks: two `(depthwise (k, k, C), pointwise (C, C'), gamma (C',), beta (C',))`.
    """
    for depthwise, pointwise, gamma, beta in stacks:
        x = tf.nn.separable_conv2d(
            tf.nn.relu(x), depthwise[..., None], pointwise[None, None], [1, 1, 1, 1], "SAME"
        )
        x = cell_blocks.batch_stat_norm(x, gamma, beta, SEP_BN_EPSILON)
    return x


@tf.RegisterGradient("KerasEnasRecomputedMaxPool")
def _recomputed_max_pool_grad(op, upstream):
    """`MaxPool`'s gradient with the pool recomputed beside it (see `max_pool3`)."""
    x = op.inputs[0]
    pooled = tf.nn.max_pool2d(
        x, op.get_attr("ksize"), op.get_attr("strides"), op.get_attr("padding").decode()
    )
    return tf.raw_ops.MaxPoolGrad(
        orig_input=x,
        orig_output=pooled,
        grad=upstream,
        ksize=op.get_attr("ksize"),
        strides=op.get_attr("strides"),
        padding=op.get_attr("padding"),
    )


def max_pool3(x):
    """3×3 max pool, stride 1, "SAME" (`tf.nn.max_pool2d`), for use inside `switch_case`.

    Its gradient recomputes the pool next to `MaxPoolGrad`: inside a branch the
    oneDNN rewrite of `MaxPoolGrad` needs its forward pool in the same function,
    else the generic CPU kernel runs, which took ~14 ms per call at 32×32×20,
    batch 32 (a quarter of the shared step; README, "Where the time goes").
    Eagerly there is no graph to annotate, and the plain pool is used.
    """
    if tf.executing_eagerly():
        return tf.nn.max_pool2d(x, 3, 1, "SAME")
    with tf.compat.v1.get_default_graph().gradient_override_map(
        {"MaxPool": "KerasEnasRecomputedMaxPool"}
    ):
        return tf.nn.max_pool2d(x, 3, 1, "SAME")


def pool_or_identity(x, op):
    """Op 2 (3×3 average pool, padding excluded), 3 (3×3 max pool) or 4 (identity)."""
    if op == 2:
        return tf.nn.avg_pool2d(x, 3, 1, "SAME")
    return max_pool3(x) if op == 3 else x


def switch_op(x, op_id, sep3, sep5):
    """Runs ONLY op `op_id` (a scalar tensor) on `x` with `tf.switch_case`.

    Args:
        x: `(B, H, W, F)`, the chosen input of one (node, slot).
        op_id: int32 scalar.
        sep3, sep5: the (node, slot, input)'s weights, as `sep_conv` takes them.

    Returns:
        `(B, H, W, F)`.
    """
    branches = [functools.partial(sep_conv, x, sep3), functools.partial(sep_conv, x, sep5)]
    branches += [functools.partial(pool_or_identity, x, op) for op in (2, 3, 4)]
    return tf.switch_case(op_id, branches)


def select_sep_weights(op_ids, sep3, sep5):
    """Per-slot sep weights of all nodes at once, sep3 zero-padded to a 5×5 depthwise.

    A 3×3 depthwise kernel centred in a zero 5×5 one gives the same "SAME" output,
    so each slot runs one 5×5 separable conv with its sampled kernel's weights.
    Both slots of a node are packed along channels: depthwise `(5, 5, 2F)`,
    pointwise block-diagonal `(2F, 2F)`, BN `(2F,)`.

    Args:
        op_ids: int32 `(N, 2)` op of every (node, slot).
        sep3, sep5: per stack, `(depthwise (N, 2, k, k, F), pointwise (N, 2, F, F),
            gamma (N, 2, F), beta (N, 2, F))`, the rows the arc's input ids chose.

    Returns:
        Per stack, `(depthwise (N, 5, 5, 2F), pointwise (N, 2F, 2F), gamma (N, 2F),
        beta (N, 2F))`.
    """
    is5 = tf.equal(op_ids, 1)
    n, f = sep5[0][0].shape[0], sep5[0][0].shape[-1]
    stacks = []
    for (dw3, pw3, g3, b3), (dw5, pw5, g5, b5) in zip(sep3, sep5):
        dw3 = tf.pad(dw3, [[0, 0], [0, 0], [1, 1], [1, 1], [0, 0]])
        dw = tf.where(is5[:, :, None, None, None], dw5, dw3)  # (N, 2, 5, 5, F)
        dw = tf.reshape(tf.transpose(dw, [0, 2, 3, 1, 4]), [n, 5, 5, 2 * f])
        pw = tf.where(is5[:, :, None, None], pw5, pw3)  # (N, 2, F, F)
        pw = tf.reshape(
            tf.einsum("nsfg,st->nsftg", pw, tf.eye(2, dtype=pw.dtype)), [n, 2 * f, 2 * f]
        )  # block-diagonal: slot s reads only slot s
        gamma, beta = (
            tf.reshape(tf.where(is5[:, :, None], w5, w3), [n, 2 * f])
            for w3, w5 in ((g3, g5), (b3, b5))
        )
        stacks.append((dw, pw, gamma, beta))
    return stacks


def op_masks(op_ids, filters):
    """`(N, 5, 2F)` float masks: channel block s of row k is 1 iff slot s picked op k."""
    onehot = tf.transpose(tf.one_hot(op_ids, NUM_OPS), [0, 2, 1])  # (N, 5, 2)
    return tf.repeat(onehot, filters, axis=-1)


def compute_all_pair(x, stacks, masks):
    """Both slots of one node: every op computed, the sampled one kept per slot.

    Args:
        x: `(B, H, W, 2F)`, the two chosen inputs packed along channels.
        stacks: this node's `select_sep_weights` output (index `[j]` taken).
        masks: `(5, 2F)`, this node's `op_masks`.

    Returns:
        `(B, H, W, F)`, the node: `op_x(x_in) + op_y(y_in)`.
    """
    sep3, sep5, avg, top, identity = tf.unstack(masks)
    out = (
        sep_conv(x, stacks) * (sep3 + sep5)
        + tf.nn.avg_pool2d(x, 3, 1, "SAME") * avg
        + tf.nn.max_pool2d(x, 3, 1, "SAME") * top
        + x * identity
    )
    return tf.reduce_sum(split_channels(out, 2), axis=3)


def split_channels(x, parts):
    """`(B, H, W, P·F)` → `(B, H, W, P, F)`, keeping the static H, W, F."""
    dynamic = tf.shape(x)
    h, w = (x.shape[i] if x.shape[i] is not None else dynamic[i] for i in (1, 2))
    return tf.reshape(x, [-1, h, w, parts, x.shape[-1] // parts])
