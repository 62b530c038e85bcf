"""`ClassifierTrainer`: trains a fixed CNN from scratch as a `keras.Model` for `fit()`."""

import keras
import tensorflow as tf

from keras_enas import distribute, precision
from keras_enas.layers import cell_blocks
from keras_enas.run import malloc, nonfinite

__all__ = ["ClassifierTrainer", "FinalTestLabels"]


def _cross_entropy(y, logits):
    logits = precision.float32(logits)  # softmax and loss in float32 (mixed precision)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))


class ClassifierTrainer(malloc.ReleasesHeapAfterCompile, distribute.BuiltBeforeFit, keras.Model):
    """Final training of a fixed CNN (reference §4.1): CE + aux + λ·Σw², clipped SGD.

    Each step minimises `CE(logits) + aux_weight · CE(aux_logits) + l2 · Σw²` (Σ over
    every trainable weight, batch-norm γ/β included, as the original), clips the
    gradient to global norm `grad_clip` (for real: the original's "norm" clipping
    was a no-op, reference §6.6) and applies the compiled optimizer. A step whose loss
    or gradient norm is not finite changes nothing (the BatchNorm statistics its
    forward pass wrote are put back) and is counted in `nonfinite_steps`
    (`run.nonfinite`). Logs `final_train_loss` (the CE of the main head, over the
    steps taken), `final_train_accuracy` and `final_nonfinite_steps`; its evaluation
    logs `loss`, `accuracy`.

    Args:
        network: a functional model from `cifar_models.build_fixed_cnn`: images →
            logits, or → `[logits, aux_logits]` when it has an aux head.
        l2: L2 weight λ (>= 0).
        aux_weight: weight of the aux head's loss (>= 0).
        grad_clip: global-norm clip (0 disables).
        **kwargs: `keras.Model` arguments.

    Raises:
        ValueError: if a weight or `grad_clip` is negative.

    Example:

    ```python
    trainer = ClassifierTrainer(model, l2=2e-4, grad_clip=5.0)
    trainer.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True))
    trainer.fit(train_ds, epochs=310, validation_data=test_ds)
    ```
    """

    def __init__(self, network, l2=0.0, aux_weight=0.4, grad_clip=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("l2", l2), ("aux_weight", aux_weight), ("grad_clip", grad_clip)):
            if not value >= 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
        self.network = network
        self.l2, self.aux_weight, self.grad_clip = float(l2), float(aux_weight), float(grad_clip)
        self.epochs_done = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="epochs_done"
        )
        self.nonfinite_steps = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="nonfinite_steps"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, images, training=False):
        return self.logits(images, training)[0]

    def logits(self, images, training=False):
        """`(logits, aux_logits or None)` of the network."""
        outputs = self.network(images, training=training)
        if isinstance(outputs, (list, tuple)):
            return outputs[0], (outputs[1] if len(outputs) > 1 else None)
        return outputs, None

    def objective(self, images, labels):
        """`(CE of the main head, the minimised objective)` in training mode."""
        logits, aux_logits = self.logits(images, training=True)
        loss = _cross_entropy(labels, logits)
        objective = loss
        if aux_logits is not None and self.aux_weight:
            objective += self.aux_weight * _cross_entropy(labels, aux_logits)
        if self.l2:
            objective += self.l2 * cell_blocks.sum_of_squares(self.network.trainable_weights)
        return loss, objective, logits

    def train_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.network.trainable_variables
        kept = nonfinite.snapshot(self.network.non_trainable_variables)  # BatchNorm statistics
        with tf.GradientTape() as tape:
            loss, objective, logits = self.objective(images, labels)
            objective = self.optimizer.scale_loss(objective)  # float16: loss scaling
        grads, finite = distribute.checked_gradients(
            tape, loss, objective, variables, self.optimizer, self.grad_clip
        )
        distribute.guarded_update(
            finite,
            lambda grads: distribute.apply_gradients(self.optimizer, grads, variables),
            (grads,),
            kept,
            self.nonfinite_steps,
        )
        taken = tf.cast(finite, loss.dtype)
        self.loss_tracker.update_state(tf.where(finite, loss, tf.zeros_like(loss)), taken)
        self.accuracy_tracker.update_state(labels, logits, sample_weight=taken)
        return distribute.step_logs(
            {
                "final_train_loss": self.loss_tracker.result(),
                "final_train_accuracy": self.accuracy_tracker.result(),
                "final_nonfinite_steps": self.nonfinite_steps,  # skipped steps so far
            }
        )

    def test_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits, _ = self.logits(images, training=False)
        self.loss_tracker.update_state(_cross_entropy(labels, logits))
        self.accuracy_tracker.update_state(labels, logits)
        return distribute.step_logs(
            {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}
        )


class FinalTestLabels(keras.callbacks.Callback):
    """Renames the epoch's `val_loss`/`val_accuracy` (the test split) to `final_test_*`.

    Put it before the loggers: they then record `final_test_accuracy`, which cannot be
    mistaken for a search-phase (shared-weight) figure.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for name in ("loss", "accuracy"):
            if "val_" + name in logs:
                logs["final_test_" + name] = logs.pop("val_" + name)
