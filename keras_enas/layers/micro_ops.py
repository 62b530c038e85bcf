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
    "recomputed_sep_conv",
    "select_sep_weights",
    "SEP_BN_EPSILON",
    "SEP_CONV_RECOMPUTES",
    "sep_conv",
    "split_channels",
    "switch_op",
]

NUM_OPS = 5  # MICRO_OPS: 0 sep3, 1 sep5, 2 avgpool3, 3 maxpool3, 4 identity
SEP_BN_EPSILON = 1e-5  # micro_child._enas_conv: fused_batch_norm(epsilon=1e-5)
# What a sep conv's backward pass recomputes instead of keeping (`sep_conv`).
SEP_CONV_RECOMPUTES = ("none", "elementwise", "depthwise")


def sep_conv(x, stacks, recompute="none"):
    """2 × (ReLU → depthwise k×k (multiplier 1) → pointwise 1×1 → BN with batch stats).

    Args:
        x: `(B, H, W, C)`.
        stacks: two `(depthwise (k, k, C), pointwise (C, C'), gamma (C',), beta (C',))`.
        recompute: what the backward pass recomputes instead of keeping, one of
            `SEP_CONV_RECOMPUTES`: `"none"` (the registered gradients: 6 activations
            kept), `"elementwise"` (the ReLUs and the first BN: 4 kept) or
            `"depthwise"` (the depthwise convs too: 2 kept); see `recomputed_sep_conv`.
    """
    if recompute != "none":
        return recomputed_sep_conv(x, stacks, depthwise=recompute == "depthwise")
    for depthwise, pointwise, gamma, beta in stacks:
        x = tf.nn.separable_conv2d(
            tf.nn.relu(x), depthwise[..., None], pointwise[None, None], [1, 1, 1, 1], "SAME"
        )
        x = cell_blocks.batch_stat_norm(x, gamma, beta, SEP_BN_EPSILON)
    return x


def _stack_forward(h, depthwise, pointwise, gamma, beta):
    """One stack of `sep_conv`: `(relu, depthwise out, pointwise out, BN out, reserve)`."""
    r = tf.nn.relu(h)
    d = tf.nn.depthwise_conv2d(r, depthwise[..., None], [1, 1, 1, 1], "SAME")
    p = tf.nn.conv2d(d, pointwise[None, None], 1, "SAME")
    y, _, _, *reserve = tf.raw_ops.FusedBatchNormV3(
        x=p,
        scale=tf.cast(gamma, tf.float32),
        offset=tf.cast(beta, tf.float32),
        mean=tf.zeros([0]),
        variance=tf.zeros([0]),
        epsilon=SEP_BN_EPSILON,
        is_training=True,
    )
    return r, d, p, y, reserve


def _stack_backward(dy, r, d, p, reserve, depthwise, pointwise, gamma):
    """Gradients of one stack from its kept tensors: `(dh, (ddepthwise, dpointwise,
    dgamma, dbeta))`, the kernels the registered gradients of the forward ops run."""
    dp, dgamma, dbeta, _, _ = tf.raw_ops.FusedBatchNormGradV3(
        y_backprop=dy,
        x=p,
        scale=tf.cast(gamma, tf.float32),
        reserve_space_1=reserve[0],
        reserve_space_2=reserve[1],
        reserve_space_3=reserve[2],
        epsilon=SEP_BN_EPSILON,
        is_training=True,
    )
    strides, dw4, pw4 = [1, 1, 1, 1], depthwise[..., None], pointwise[None, None]
    dd = tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.shape(d), filter=pw4, out_backprop=dp, strides=strides, padding="SAME"
    )
    dpw = tf.raw_ops.Conv2DBackpropFilter(
        input=d, filter_sizes=tf.shape(pw4), out_backprop=dp, strides=strides, padding="SAME"
    )
    dr = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
        input_sizes=tf.shape(r), filter=dw4, out_backprop=dd, strides=strides, padding="SAME"
    )
    ddw = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=r, filter_sizes=tf.shape(dw4), out_backprop=dd, strides=strides, padding="SAME"
    )
    dh = tf.raw_ops.ReluGrad(gradients=dr, features=r)
    return dh, (ddw[..., 0], dpw[0, 0], tf.cast(dgamma, gamma.dtype), tf.cast(dbeta, gamma.dtype))


def recomputed_sep_conv(x, stacks, depthwise=False):
    """`sep_conv(x, stacks)` whose backward pass keeps 4 activations (2 with
    `depthwise`), not 6.

    The registered gradients keep, per stack, the ReLU output (for the depthwise
    kernel's gradient), the depthwise output (the pointwise kernel's) and the
    pointwise output (the BN's): 6 `(B, H, W, C)` tensors per sep conv, most of the
    shared micro step's activations. Here the forward pass keeps the depthwise and
    pointwise outputs (and the BNs' small reserve spaces); the backward pass
    recomputes the ReLUs and the first BN's output from them and from `x` (the node
    read, which its cell keeps anyway): three element-wise passes. With `depthwise`
    it keeps only the pointwise outputs and recomputes the two depthwise convs as
    well. Then it runs the same gradient kernels as the registered gradients: the
    same gradients (README, "Issue #14, sixth pass").
    """
    flat = [w for stack in stacks for w in stack]

    @tf.custom_gradient
    def forward(x, *flat):
        # Identities: in this graph (a `switch_case` branch), where the gradient reads them.
        x, flat = tf.identity(x), [tf.identity(w) for w in flat]
        weights = [flat[i : i + 4] for i in range(0, len(flat), 4)]
        h, kept = x, []
        for stack in weights:
            _, d, p, h, reserve = _stack_forward(h, *stack)
            kept.append((p, reserve, None if depthwise else d))

        def grad(dy):
            inputs = [x]  # each stack's input: x, then the previous stack's BN output
            for (p, _, _), (_, _, gamma, beta) in zip(kept[:-1], weights):
                inputs.append(cell_blocks.batch_stat_norm(p, gamma, beta, SEP_BN_EPSILON))
            grads = []
            for h, (p, reserve, d), stack in reversed(list(zip(inputs, kept, weights))):
                r = tf.nn.relu(h)
                if d is None:
                    d = tf.nn.depthwise_conv2d(r, stack[0][..., None], [1, 1, 1, 1], "SAME")
                dy, stack_grads = _stack_backward(dy, r, d, p, reserve, *stack[:3])
                grads[:0] = stack_grads
            return (dy, *grads)

        return h, grad

    return forward(x, *flat)


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
    batch 32 (a quarter of the shared step; README, "Where the time went").
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


def switch_op(x, op_id, sep3, sep5, sep_conv_recompute="none"):
    """Runs ONLY op `op_id` (a scalar tensor) on `x` with `tf.switch_case`.

    Args:
        x: `(B, H, W, F)`, the chosen input of one (node, slot).
        op_id: int32 scalar.
        sep3, sep5: the (node, slot, input)'s weights, as `sep_conv` takes them.
        sep_conv_recompute: `sep_conv`'s `recompute`.

    Returns:
        `(B, H, W, F)`.
    """
    branches = [
        functools.partial(sep_conv, x, weights, sep_conv_recompute) for weights in (sep3, sep5)
    ]
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


def compute_all_pair(x, stacks, masks, sep_conv_recompute="none"):
    """Both slots of one node: every op computed, the sampled one kept per slot.

    Args:
        x: `(B, H, W, 2F)`, the two chosen inputs packed along channels.
        stacks: this node's `select_sep_weights` output (index `[j]` taken).
        masks: `(5, 2F)`, this node's `op_masks`.
        sep_conv_recompute: `sep_conv`'s `recompute`.

    Returns:
        `(B, H, W, F)`, the node: `op_x(x_in) + op_y(y_in)`.
    """
    sep3, sep5, avg, top, identity = tf.unstack(masks)
    out = (
        sep_conv(x, stacks, sep_conv_recompute) * (sep3 + sep5)
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
