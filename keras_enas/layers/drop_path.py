"""Scheduled drop-path (reference §2(c)): a layer, and the callback that advances its schedule."""

import keras
import tensorflow as tf

__all__ = ["drop_path_layers", "DropPathSchedule", "ScheduledDropPath", "set_drop_path_progress"]


@keras.saving.register_keras_serializable(package="keras_enas")
class ScheduledDropPath(keras.layers.Layer):
    """Drops a whole op output per example, more in later cells and later in training.

    `micro_child._apply_drop_path`, for cell `layer_id` of `num_cells`:

        p_layer = 1 − (layer_id + 1) / num_cells · (1 − drop_path_keep_prob)
        p_keep  = 1 − progress · (1 − p_layer),  progress = min(1, (step + 1) / total_steps)
        x       = x / p_keep · Bernoulli(p_keep)   # one draw per example

    `progress` is a non-trainable weight; `DropPathSchedule` sets it every step.
    Identity at inference.

    Args:
        drop_path_keep_prob: keep probability of the last cell at the end of
            training, in (0, 1].
        layer_id: index of the cell this op belongs to, in `[0, num_cells)`.
        num_cells: cells in the network (`num_layers + 2`).
        seed: int seed of the layer's `SeedGenerator`.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        x: `(B, ...)` op output.
        training: whether to drop.

    Raises:
        ValueError: if the probability or the layer index is out of range.
    """

    def __init__(self, drop_path_keep_prob, layer_id, num_cells, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < drop_path_keep_prob <= 1.0:
            raise ValueError(
                "`drop_path_keep_prob` must be in (0, 1]. "
                f"Received: drop_path_keep_prob={drop_path_keep_prob}"
            )
        if not 0 <= layer_id < num_cells:
            raise ValueError(
                f"`layer_id` must be in [0, num_cells={num_cells}). Received: layer_id={layer_id}"
            )
        self.drop_path_keep_prob = float(drop_path_keep_prob)
        self.layer_id, self.num_cells, self.seed = int(layer_id), int(num_cells), seed
        ratio = (self.layer_id + 1) / self.num_cells
        self.layer_keep_prob = 1.0 - ratio * (1.0 - self.drop_path_keep_prob)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.progress = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="progress"
        )

    def keep_prob(self):
        """The current per-example keep probability `p_keep`."""
        return 1.0 - self.progress * (1.0 - self.layer_keep_prob)

    def call(self, x, training=None):
        if not training:
            return x
        keep = tf.cast(self.keep_prob(), x.dtype)
        shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
        u = keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator)
        return x / keep * tf.floor(keep + u)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "drop_path_keep_prob": self.drop_path_keep_prob,
            "layer_id": self.layer_id,
            "num_cells": self.num_cells,
            "seed": self.seed,
        }


def drop_path_layers(model):
    """Every `ScheduledDropPath` inside `model` (nested layers included)."""
    return [layer for layer in model._flatten_layers() if isinstance(layer, ScheduledDropPath)]


def set_drop_path_progress(model, progress):
    """Sets the schedule of every drop-path layer of `model` to `progress` in [0, 1]."""
    for layer in drop_path_layers(model):
        layer.progress.assign(progress)


class DropPathSchedule(keras.callbacks.Callback):
    """Before each training step, sets `progress = min(1, (step + 1) / total_steps)`.

    `step` is the optimizer's iteration count, the original's `global_step`, so a
    resumed run continues the schedule where it stopped.

    Args:
        total_steps: training steps of the whole run; None takes `epochs ×
            steps per epoch` of the `fit` call (the original's `num_train_steps`).

    Raises:
        ValueError: if `total_steps < 1`.
    """

    def __init__(self, total_steps=None):
        super().__init__()
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"`total_steps` must be >= 1. Received: total_steps={total_steps}")
        self.total_steps = total_steps
        self._variables, self._total = [], None

    def on_train_begin(self, logs=None):
        self._variables = [layer.progress for layer in drop_path_layers(self.model)]
        self._total = self.total_steps
        if self._total is None:
            epochs, steps = self.params.get("epochs"), self.params.get("steps")
            if not epochs or not steps:
                raise ValueError(
                    "`total_steps` is required when `fit` does not know the "
                    f"number of steps. Received: epochs={epochs}, steps={steps}"
                )
            self._total = epochs * steps

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        progress = min(1.0, (step + 1) / self._total)
        for variable in self._variables:
            variable.assign(progress)
