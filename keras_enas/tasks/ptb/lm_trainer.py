"""`LMTrainer`: trains a fixed language model with truncated BPTT, a `keras.Model` for `fit()`."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas import distribute, precision
from keras_enas.layers import tied_softmax
from keras_enas.run import malloc

__all__ = ["LMTrainer", "REDUCTIONS"]

REDUCTIONS = ("sum_over_time", "mean")


class LMTrainer(malloc.ReleasesHeapAfterCompile, distribute.BuiltBeforeFit, keras.Model):
    """Final training of a fixed LM (reference §4.2): SGD, carried state, regularisers, ASGD.

    Each step minimises `s · (loss + slowness · mean_{b,t} ‖h_t − h_{t−1}‖²
    + activation_l2 · mean(dropped h²)) + l2 · Σw²`, where `loss` is the mean token
    cross-entropy (tied softmax) and `s = T` for `loss_reduction="sum_over_time"`
    (ptb_final.sh: losses summed over the T steps, averaged over the batch) or 1 for
    `"mean"` (enas_lm); then global-norm clipping and one optimizer step. The state is
    carried across minibatches and zeroed by `reset_states()`. The logged
    `final_train_loss` is always the mean per token.

    Averaged SGD (`asgd=True`; Polyak averaging as in enas_lm and AWD-LSTM's NT-ASGD):
    once `update_asgd` sees the validation perplexity get worse than the best of all
    but the last `asgd_nonmono` epochs (or epoch `asgd_start_epoch` ends, if set),
    every step updates a running average of the weights. `swap_averages()` exchanges
    weights and averages (for evaluation).

    Args:
        lm: a model from `build_fixed_model`.
        batch_size: global training rows B (the carried state's batch; under a
            strategy each replica carries its B / replicas rows).
        l2, slowness, activation_l2: regulariser weights (>= 0).
        loss_reduction: `"sum_over_time"` or `"mean"` (see above).
        grad_clip: global-norm clip (0 disables).
        asgd: whether to average the weights once triggered.
        asgd_nonmono: the trigger's window in epochs (>= 1).
        asgd_start_epoch: if > 0, averaging starts after this epoch at the latest
            (enas_lm TPU starts after a fixed number of steps).
        **kwargs: `keras.Model` arguments.

    Example:

    ```python
    trainer = LMTrainer(lm, batch_size=64, grad_clip=0.25)
    trainer.compile(optimizer=keras.optimizers.SGD(20.0))
    trainer.fit(lm_dataset(train, 64, 35), epochs=10, callbacks=[ResetStates()])
    ```
    """

    def __init__(
        self,
        lm,
        batch_size,
        l2=0.0,
        slowness=0.0,
        activation_l2=0.0,
        loss_reduction="mean",
        grad_clip=0.0,
        asgd=False,
        asgd_nonmono=10,
        asgd_start_epoch=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if asgd_nonmono < 1:
            raise ValueError(f"`asgd_nonmono` must be >= 1. Received: asgd_nonmono={asgd_nonmono}")
        if loss_reduction not in REDUCTIONS:
            raise ValueError(
                f"`loss_reduction` must be one of {REDUCTIONS}. "
                f"Received: loss_reduction={loss_reduction!r}"
            )
        self.loss_reduction = loss_reduction
        self.lm = lm
        self.embedding = lm.get_layer("embedding")
        # The same layers, also returning the dropped features and the raw cell outputs.
        self.view = keras.Model(
            lm.inputs, [lm.get_layer("drop_o").output, lm.outputs[1], lm.get_layer("rnn").output[0]]
        )
        self.l2, self.slowness, self.activation_l2 = (
            float(l2),
            float(slowness),
            float(activation_l2),
        )
        self.grad_clip, self.asgd, self.asgd_nonmono = float(grad_clip), bool(asgd), asgd_nonmono
        self.asgd_start_epoch = int(asgd_start_epoch)
        width = lm.inputs[1].shape[-1]

        def state(shape, name, dtype="float32", init="zeros"):
            return self.add_weight(
                shape=shape, initializer=init, trainable=False, name=name, dtype=dtype
            )

        # One carried state per replica: its rows of the global minibatch.
        self.train_state = distribute.replica_state(
            batch_size, width, "train_state", "train_batch_size"
        )
        self.epochs_done = state((), "epochs_done", "int64")
        self.nonfinite_steps = state((), "nonfinite_steps", "int64")  # skipped steps
        self.loss_tracker = keras.metrics.Mean(name="final_train_loss")
        # NT-ASGD: number of averaged steps (0: not started) and the validation history.
        self.asgd_count = state((), "asgd_count")
        self.valid_recent = state((asgd_nonmono,), "valid_recent")
        self.valid_older_best = state(
            (), "valid_older_best", init=keras.initializers.Constant(np.inf)
        )
        self.valid_epochs = state((), "valid_epochs", "int64")
        self.averages = (
            [state(v.shape, "average_" + v.name) for v in lm.trainable_variables]
            if self.asgd
            else []
        )

    def checkpoint_items(self):
        """What a checkpoint must hold: `checkpoint_manager(workdir, **trainer.checkpoint_items())`.

        The trainer (its state and counters, and through the optimizer the model's
        weights), the optimizer, and the ASGD averages (a list, which Keras does not
        track for `tf.train.Checkpoint` by itself).
        """
        return {
            "trainer": self,
            "optimizer": self.optimizer,
            "asgd_averages": {str(i): v for i, v in enumerate(self.averages)},
        }

    @property
    def metrics(self):
        return [self.loss_tracker]

    def reset_states(self):
        """Zeros the carried state (start of an epoch)."""
        self.train_state.assign(tf.zeros_like(self.train_state))

    def losses_of(self, x, y, training=True):
        """`(mean token loss, objective, new_state)` on one minibatch from the carried state."""
        x, state = tf.convert_to_tensor(x), tf.convert_to_tensor(self.train_state)
        features, new_state, hidden = self.view([x, state], training=training)
        width = features.shape[-1]
        nats = tied_softmax.tied_softmax_cross_entropy(  # float32 losses
            tf.reshape(features, [-1, width]), self.embedding.embeddings, tf.reshape(y, [-1])
        )
        # Under mixed precision the regularisers, like the loss, are float32.
        features, hidden = precision.float32(features), precision.float32(hidden)
        loss = tf.reduce_mean(nats)
        objective = loss
        if self.slowness:  # ptb_final.sh: ||h_t - h_{t-1}||^2 over the minibatch's steps
            diff = hidden[:, 1:] - hidden[:, :-1]  # (B, T-1, H)
            objective += self.slowness * tf.reduce_mean(tf.reduce_sum(tf.square(diff), -1))
        if self.activation_l2:  # enas_lm / AWD-LSTM activation regularisation
            objective += self.activation_l2 * tf.reduce_mean(tf.square(features))
        if self.loss_reduction == "sum_over_time":  # sum over T, mean over B
            objective *= tf.cast(tf.shape(y)[1], objective.dtype)
        if self.l2:
            objective += self.l2 * tf.add_n(
                [tf.reduce_sum(tf.square(v)) for v in self.lm.trainable_variables]
            )
        return loss, objective, new_state

    def train_step(self, data):
        x, y = data
        variables = self.lm.trainable_variables
        with tf.GradientTape() as tape:
            loss, objective, new_state = self.losses_of(x, y)
            objective = self.optimizer.scale_loss(objective)  # float16: loss scaling
        grads, finite = distribute.checked_gradients(
            tape, loss, objective, variables, self.optimizer, self.grad_clip
        )

        def update(grads, new_state):  # skipped (and counted) when not finite
            distribute.apply_gradients(self.optimizer, grads, variables)
            self.train_state.assign(tf.cast(tf.stop_gradient(new_state), self.train_state.dtype))
            if self.asgd:
                self._average(variables)

        distribute.guarded_update(finite, update, (grads, new_state), counter=self.nonfinite_steps)
        self.loss_tracker.update_state(
            tf.where(finite, loss, tf.zeros_like(loss)), sample_weight=tf.cast(finite, loss.dtype)
        )
        mean = self.loss_tracker.result()
        return distribute.step_logs(
            {
                "final_train_loss": mean,
                "final_train_ppl": tf.exp(mean),
                "final_nonfinite_steps": self.nonfinite_steps,  # skipped steps so far
            }
        )

    def _average(self, variables):
        """avg += (w − avg) / n once averaging has started (n = averaged steps)."""
        started = tf.cast(self.asgd_count > 0, tf.float32)
        self.asgd_count.assign_add(started)
        rate = started / tf.maximum(self.asgd_count, 1.0)
        for average, v in zip(self.averages, variables):
            average.assign_add(rate * (v - average))

    def update_asgd(self, valid_ppl):
        """Records an epoch's validation perplexity; starts averaging when it is time.

        NT-ASGD trigger (Merity et al. 2017; enas_lm GPU): after more than
        `asgd_nonmono` epochs, start when `valid_ppl` is worse than the best of all
        but the last `asgd_nonmono` epochs; or at the end of epoch `asgd_start_epoch`
        when that is set. Returns True if averaging is on.
        """
        n, count = self.asgd_nonmono, int(self.valid_epochs.numpy())
        worse = count > n and valid_ppl > float(self.valid_older_best.numpy())
        due = 0 < self.asgd_start_epoch <= count + 1
        if self.asgd and float(self.asgd_count.numpy()) == 0 and (worse or due):
            for average, v in zip(self.averages, self.lm.trainable_variables):
                average.assign(v)
            self.asgd_count.assign(1.0)
        recent, slot = self.valid_recent.numpy(), count % n
        if count >= n:  # the epoch leaving the window joins "all but the last n"
            self.valid_older_best.assign(
                min(float(self.valid_older_best.numpy()), float(recent[slot]))
            )
        recent[slot] = valid_ppl
        self.valid_recent.assign(recent)
        self.valid_epochs.assign_add(1)
        return self.averaging

    @property
    def averaging(self):
        """Whether the weights are being averaged."""
        return self.asgd and float(self.asgd_count.numpy()) > 0

    def swap_averages(self):
        """Exchanges the weights and their averages (call twice to restore)."""
        for average, v in zip(self.averages, self.lm.trainable_variables):
            current = tf.identity(v)
            v.assign(average)
            average.assign(current)
