"""`CIFARSearch`: ENAS over CNNs on CIFAR-10, rewarded by validation accuracy (ENAS §2.3)."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas import distribute, precision
from keras_enas.layers import cell_blocks
from keras_enas.layers.standardize import Standardize
from keras_enas.search import enas

__all__ = ["CIFARSearch", "cross_entropy"]


def cross_entropy(y, logits):
    """Mean softmax cross-entropy of int labels `y` (B,) and `logits` (B, K), in float32."""
    logits = precision.float32(logits)  # mixed precision: softmax and loss in float32
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))


class CIFARSearch(enas.ENASSearch):
    """ENAS search for a CIFAR-10 network: macro or micro, whatever `child` implements.

    Child step (ENAS §2.2, phase 1): cross-entropy (+ `aux_weight` × the aux head's
    cross-entropy, if the child has one) + `l2 · Σw²` over the weights the arc uses
    (`child.l2_penalty(arc)` when defined, else every weight), with the optimizer
    given to `compile` (Nesterov SGD in `run_cifar`) and global-norm clipping.

    Reward (reference §3.4): accuracy of the arc on ONE validation minibatch of
    `batch_size` images drawn at random without replacement from the held-out
    images, unaugmented, with `training=False`.

    Args:
        space: the search space.
        child: a shared CNN: `child(images, arc, training)` → `(logits, aux_logits or None)`.
        trainer: a `reinforce.ControllerTrainer`.
        reward_data: `(images, labels)` held-out validation split: uint8 pixels
            `(N, H, W, 3)` and int labels `(N,)`; standardised with `mean`, `std`.
        mean, std: per-channel statistics of the training split (`standardizer`).
        batch_size: reward minibatch size (the original: the training batch size).
        eval_batch_size: minibatch size when scoring arcs on the whole split.
        l2: L2 weight λ.
        aux_weight: weight of the aux head's loss.
        **kwargs: passed to `ENASSearch` (strategy, grad_clip, seed, name).

    Raises:
        ValueError: if `reward_data` is malformed or smaller than `batch_size`.

    Example:

    ```python
    search = CIFARSearch(space, child, trainer, (x_valid, y_valid), mean, std, batch_size=128)
    search.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True))
    search.fit(train_ds, validation_data=valid_ds, epochs=310)
    ```
    """

    def __init__(
        self,
        space,
        child,
        trainer,
        reward_data,
        mean,
        std,
        batch_size,
        eval_batch_size=100,
        l2=0.0,
        aux_weight=0.4,
        **kwargs,
    ):
        super().__init__(space, child, trainer, **kwargs)
        images, labels = np.asarray(reward_data[0]), np.asarray(reward_data[1], np.int32)
        if images.ndim != 4 or labels.shape != (len(images),):
            raise ValueError(
                "`reward_data` must be images (N, H, W, 3) and N labels. "
                f"Received shapes: {images.shape}, {labels.shape}"
            )
        if len(images) < batch_size:
            raise ValueError(
                f"`reward_data` holds {len(images)} images, fewer than batch_size={batch_size}."
            )
        self._reward_images, self._reward_labels = images, labels
        self.standardize = Standardize(mean, std)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.l2, self.aux_weight = float(l2), float(aux_weight)
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def _logs(self):
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}

    def l2_penalty(self, arc):
        """Σw² over the weights `arc` uses (all child weights if the child cannot tell)."""
        if hasattr(self.child, "l2_penalty"):
            return self.child.l2_penalty(arc)
        return cell_blocks.sum_of_squares(self.child.trainable_weights)

    def child_loss(self, x, y, arc, training):
        logits, aux_logits = self.child(x, arc, training=training)
        loss = cross_entropy(y, logits)
        self.accuracy_tracker.update_state(y, logits)
        if not training:
            return loss, loss
        objective = loss
        if aux_logits is not None and self.aux_weight:
            objective += self.aux_weight * cross_entropy(y, aux_logits)
        if self.l2:
            objective += self.l2 * self.l2_penalty(arc)
        return loss, objective

    def batch_accuracy(self, images, labels, arc):
        """Accuracy of `arc` on raw `images` (B, H, W, 3) with `training=False`."""
        logits, _ = self.child(self.standardize(images), arc, training=False)
        hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels)
        return tf.reduce_mean(tf.cast(hits, tf.float32))

    def reward(self, arc):
        """ENAS §2.3: accuracy on one random validation minibatch (no augmentation).

        Under a strategy, replica r takes the r-th minibatch of the same shuffle.
        """
        count = len(self._reward_images)
        order = keras.random.shuffle(tf.range(count), seed=self.seed_generator)
        index = tf.roll(order, -distribute.replica_id() * self.batch_size, 0)[: self.batch_size]
        return self.batch_accuracy(
            tf.gather(tf.constant(self._reward_images), index),
            tf.gather(tf.constant(self._reward_labels), index),
            arc,
        )

    def score_arcs(self, arcs, scoring, seed=0, num_batches=1):
        """Scores arcs by validation accuracy (see `derive.derive`).

        `"minibatch"`: every arc on the same `num_batches` random minibatches of
        `batch_size` images (the paper: one); `"full"`: on the whole held-out split.
        """
        images, labels = self._reward_images, self._reward_labels
        if scoring == "minibatch":
            count = min(len(images), num_batches * self.batch_size)
            index = np.random.default_rng(seed).permutation(len(images))[:count]
            images, labels = images[index], labels[index]
        chunk = self.batch_size if scoring == "minibatch" else self.eval_batch_size
        fn = tf.function(self.batch_accuracy)
        results = []
        for arc in arcs:
            arc, hits = tf.constant(arc), 0.0
            for start in range(0, len(images), chunk):
                x = tf.constant(images[start : start + chunk])
                y = tf.constant(labels[start : start + chunk])
                hits += float(fn(x, y, arc)) * len(x)
            accuracy = hits / len(images)
            results.append({"accuracy": accuracy, "reward": accuracy})
        return results
