"""Divergence: the run's one-line errors, the stop after too many skipped steps, finite saves.

The compiled training steps skip an update whose loss (or gradient norm) is not finite
and count it in the model's `nonfinite_steps` variable (see `guarded_update`); the
`NonFiniteStop` callback ends the run once the count passes the configured limit, and
`Checkpoint` (run.logs) refuses to save weights that are not finite.
"""

import keras
import tensorflow as tf

from keras_enas.run.errors import DivergenceError


def guarded_update(finite, update, restore=(), counter=None):
    """Runs `update()` if `finite`, else restores `(variable, old value)` pairs and counts.

    For compiled steps: `tf.math.is_finite` on the loss/gradient norm and one `tf.cond`,
    so a skipped step costs nothing extra and a normal step only the check.

    Args:
        finite: scalar bool tensor.
        update: callable applying the step (optimizer updates, state writes).
        restore: `(variable, value)` pairs written back when the step is skipped
            (e.g. BatchNorm statistics and carried states the forward pass changed).
        counter: integer variable incremented when the step is skipped.
    """

    def skip():
        for variable, value in restore:
            variable.assign(value)
        if counter is not None:
            counter.assign_add(tf.ones_like(counter))
        return tf.constant(False)

    def apply():
        update()
        return tf.constant(True)

    return tf.cond(finite, apply, skip)


def snapshot(variables):
    """`(variable, current value)` pairs of the float variables among `variables`."""
    return [(v, tf.identity(v)) for v in variables if tf.as_dtype(v.dtype).is_floating]


def gradient_norm_is_finite(loss, grads):
    """Whether `loss` and the global norm of `grads` (None entries ignored) are finite."""
    norm = tf.linalg.global_norm([g for g in grads if g is not None])
    return tf.logical_and(tf.math.is_finite(loss), tf.math.is_finite(norm))


def step_is_finite(loss, objective, grads, optimizer):
    """Whether a step may be applied: its loss is finite and, unless `optimizer` scales
    the loss (a `LossScaleOptimizer` skips non-finite gradients itself and lowers its
    scale), the gradient norm too."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return tf.math.is_finite(tf.cast(loss, tf.float32))
    return gradient_norm_is_finite(objective, grads)


class NonFiniteStop(keras.callbacks.Callback):
    """Stops the run once more than `limit` training steps were skipped as non-finite.

    Reads the model's `nonfinite_steps` variable (the running count, checkpointed).

    Args:
        limit: the largest number of skipped steps tolerated.
        setting: the flag that sets `limit`, named in the error.
        hint: what else to change, appended to the error.

    Raises (from `on_train_batch_end`):
        DivergenceError: one line naming `setting`.
    """

    def __init__(self, limit, setting, hint=""):
        super().__init__()
        self.limit, self.setting, self.hint = int(limit), setting, hint

    def on_train_batch_end(self, batch, logs=None):
        variable = getattr(self.model, "nonfinite_steps", None)
        count = None if variable is None else int(variable.numpy())
        if count is not None and count > self.limit:
            raise DivergenceError(
                f"{count} training steps had a non-finite loss or gradient (skipped), "
                f"more than {self.setting}={self.limit}: the run diverged. {self.hint}"
                "The last good checkpoint is kept; raise the limit to go on."
            )


def check_finite(variables, where):
    """Raises `DivergenceError` if a float variable holds NaN or inf (before a save)."""
    bad = [
        getattr(v, "path", v.name)
        for v in variables
        if tf.as_dtype(v.dtype).is_floating and not bool(tf.reduce_all(tf.math.is_finite(v)))
    ]
    if bad:
        raise DivergenceError(
            f"{len(bad)} variables are not finite {where} (first: {bad[0]}); they are not "
            "saved and the last good checkpoint is kept: lower the learning rate or clip "
            "the gradient."
        )


__all__ = [
    "NonFiniteStop",
    "check_finite",
    "gradient_norm_is_finite",
    "guarded_update",
    "snapshot",
    "step_is_finite",
]
