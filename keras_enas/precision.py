"""Mixed precision: `--mixed_precision_dtype` → a Keras dtype policy, and loss scaling.

Under `bfloat16` or `float16` the child networks compute in that dtype while their
variables stay float32 (Keras policies `mixed_bfloat16` / `mixed_float16`); the
controller, the softmax and every loss stay float32. Under `float16` the child
optimizer is a `LossScaleOptimizer` (dynamic loss scaling): the steps scale the
objective with `optimizer.scale_loss` and clip the scaled gradients with
`clip_gradients`.
"""

import contextlib

import keras
import tensorflow as tf

from keras_enas.config.base import MIXED_PRECISION_DTYPES

__all__ = [
    "MIXED_PRECISION_DTYPES",
    "LossScaleOptimizer",
    "clip_gradients",
    "float32",
    "loss_scale",
    "loss_scaled",
    "policy_name",
    "policy_scope",
]


def policy_name(dtype):
    """The Keras dtype policy of a `mixed_precision_dtype`: `"mixed_bfloat16"`, ...

    Raises:
        ValueError: if `dtype` is not one of `MIXED_PRECISION_DTYPES`.
    """
    if dtype not in MIXED_PRECISION_DTYPES:
        raise ValueError(
            f"`mixed_precision_dtype` must be one of {list(MIXED_PRECISION_DTYPES)}. "
            f"Received: mixed_precision_dtype={dtype!r}"
        )
    return "float32" if dtype == "float32" else f"mixed_{dtype}"


@contextlib.contextmanager
def policy_scope(dtype):
    """Layers built inside compute in `dtype` (variables float32); the global policy is restored.

    Keras layers keep the policy they were built with, so a model built in the scope
    stays mixed after it; the process-wide policy is left as it was.

    Example:
    >>> with policy_scope("bfloat16"):
    ...     layer = keras.layers.Dense(4)
    >>> layer.compute_dtype, layer.variable_dtype
    ('bfloat16', 'float32')
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy_name(dtype))
    try:
        yield keras.config.dtype_policy()
    finally:
        keras.config.set_dtype_policy(previous)


class LossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic `LossScaleOptimizer`, keeping `IndexedSlices` gradients sparse.

    The stock finiteness check densifies every gradient; the shared banks' gradients
    (PTB's `w_skip`, micro's op banks) are `IndexedSlices` of a few rows, and a dense
    copy of a paper-size bank costs gigabytes per step. Only their values are checked.
    """

    def check_finite(self, grads):
        return super().check_finite(
            [g.values if isinstance(g, tf.IndexedSlices) else g for g in grads]
        )


def loss_scaled(optimizer, model):
    """`optimizer`, wrapped in a `LossScaleOptimizer` if `model` computes in float16.

    Args:
        optimizer: a Keras optimizer (or its name).
        model: the network the optimizer trains (its `dtype_policy` decides).

    Returns:
        The optimizer to compile with.
    """
    optimizer = keras.optimizers.get(optimizer)
    float16 = getattr(model, "compute_dtype", "float32") == "float16"
    if float16 and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
    return optimizer


def loss_scale(optimizer):
    """The factor `optimizer.scale_loss` multiplies the loss by (1.0 without scaling)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return tf.cast(tf.convert_to_tensor(optimizer.dynamic_scale), tf.float32)
    return float(getattr(optimizer, "loss_scale_factor", None) or 1.0)


def clip_gradients(grads, clip_norm, optimizer):
    """Clips the gradients of `optimizer.scale_loss(objective)` to global norm `clip_norm`.

    The gradients are still scaled by the loss scale `s` (the optimizer unscales them
    when it applies them): clipping them to `clip_norm · s` is clipping the true
    gradients to `clip_norm`. Non-finite gradients stay non-finite, so a
    `LossScaleOptimizer` still skips that step and lowers `s`.

    Args:
        grads: list of gradients (tensors, `IndexedSlices` or None).
        clip_norm: global-norm bound of the unscaled gradients; 0 disables.
        optimizer: the optimizer that will apply them.

    Returns:
        The clipped list.
    """
    if not clip_norm > 0:
        return grads
    grads, _ = tf.clip_by_global_norm(grads, clip_norm * loss_scale(optimizer))
    return grads


def float32(tensor):
    """`tensor` cast to float32 if it is floating (logits before a softmax or loss)."""
    tensor = tf.convert_to_tensor(tensor)
    return tf.cast(tensor, tf.float32) if tensor.dtype.is_floating else tensor
