"""`PTBSearch`: ENAS over recurrent cells, with a stateful shared language model.

The hidden state is carried across training minibatches (truncated BPTT) and reset
at the start of each epoch and of each evaluation (reference §8.1). The reward is
`c / ppl` on one validation minibatch drawn at random, from a zero state (enas_lm).
"""

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_enas import distribute, reinforce
from keras_enas.search import enas
from keras_enas.search.derive import pick_batches
from keras_enas.search_spaces.rnn import RNNCellSpace

__all__ = ["PTBSearch"]


class PTBSearch(enas.ENASSearch):
    """ENAS search for a recurrent cell on a tokenised corpus.

    Args:
        space: an `RNNCellSpace`.
        child: a `SharedRNNLM` built for that space.
        trainer: a `reinforce.ControllerTrainer`.
        reward_batches: `(x, y)` int arrays of shape `(num_batches, B, T)`: the
            validation minibatches rewards are computed on.
        batch_size: global training minibatch size (rows of the carried state, split
            across the replicas under a strategy).
        eval_batch_size: global validation minibatch size for `evaluate`.
        l2: L2 weight on the weights each step uses.
        reward_constant: `c` in the reward `c / ppl` (ENAS §3.4: 80).
        **kwargs: passed to `ENASSearch` (strategy, grad_clip, seed, name).

    Example:

    ```python
    search = PTBSearch(space, child, trainer, reward_batches=(vx, vy), batch_size=64)
    search.compile(optimizer=keras.optimizers.SGD(20.0))
    search.fit(train_ds, validation_data=valid_ds, epochs=10)
    ```
    """

    def __init__(
        self,
        space: RNNCellSpace,
        child: keras.Model,
        trainer: keras.Model,
        reward_batches: tuple[np.ndarray, np.ndarray],
        batch_size: int,
        eval_batch_size: int | None = None,
        l2: float = 0.0,
        reward_constant: float = 80.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(space, child, trainer, **kwargs)
        reward_x, reward_y = (np.asarray(a, np.int32) for a in reward_batches)
        if reward_x.ndim != 3 or reward_x.shape != reward_y.shape or not len(reward_x):
            raise ValueError(
                "`reward_batches` must be two int arrays of equal shape "
                f"(num_batches, B, T). Received shapes: {reward_x.shape}, "
                f"{reward_y.shape}"
            )
        self._reward_x, self._reward_y = reward_x, reward_y
        self.l2 = float(l2)
        self.reward_constant = float(reward_constant)
        # One carried state per replica: its rows of the global minibatch.
        hidden = child.hidden_size
        self.train_state = distribute.replica_state(
            batch_size, hidden, "train_state", "child_batch_size"
        )
        self.eval_state = distribute.replica_state(
            eval_batch_size or batch_size, hidden, "eval_state", "child_eval_batch_size"
        )

    def reset_states(self):
        """Zeros the carried hidden states (start of an epoch or of an evaluation)."""
        self.train_state.assign(tf.zeros_like(self.train_state))
        self.eval_state.assign(tf.zeros_like(self.eval_state))

    def step_state_variables(self):
        return [self.train_state]

    def child_loss(self, x, y, arc, training):
        state = self.train_state if training else self.eval_state
        # Fused tied-softmax cross-entropy: no (B, T, V) logits gradient is built.
        # Training: the L2 of the gathered cell matrices comes with the loss (one gather).
        loss, new_state, *penalty = self.child.cross_entropy(
            x, y, state, arc, training=training, with_l2=training
        )
        if not training:  # a diverged child must not leave NaN in the evaluation state
            new_state = tf.where(tf.math.is_finite(new_state), new_state, tf.zeros_like(new_state))
        state.assign(tf.cast(tf.stop_gradient(new_state), state.dtype))
        objective = loss + self.l2 * penalty[0] if training else loss
        return loss, objective

    def _logs(self):
        loss = self.loss_tracker.result()
        return {"loss": loss, "ppl": tf.exp(loss)}

    def batch_loss(self, x, y, arc):
        """Mean cross-entropy of `arc` on one minibatch from a zero state, no dropout."""
        state = tf.zeros([tf.shape(x)[0], self.child.hidden_size])
        loss, _ = self.child.cross_entropy(x, y, state, arc, training=False)
        return loss

    def reward(self, arc):
        """ENAS §3.4: R = c / valid_ppl on one random validation minibatch.

        Under a strategy, replica r takes the r-th minibatch after the one drawn.
        """
        index = keras.random.randint((), 0, len(self._reward_x), seed=self.seed_generator)
        index = (index + distribute.replica_id()) % len(self._reward_x)
        x = tf.gather(tf.constant(self._reward_x), index)
        y = tf.gather(tf.constant(self._reward_y), index)
        return reinforce.ppl_reward(self.batch_loss(x, y, arc), self.reward_constant)

    def split_perplexity(self, arc, batches):
        """Perplexity of `arc` over whole `batches` `(x, y)` with the state carried."""
        x_all, y_all = batches
        fn = tf.function(lambda x, s, a: self.child(x, s, a, training=False))
        state = tf.zeros([x_all.shape[1], self.child.hidden_size])
        total = 0.0
        for x, y in zip(x_all, y_all):
            logits, state = fn(x, state, arc)
            total += float(_cross_entropy(y, logits))
        return _exp(total / len(x_all))

    def _scores(self, loss):
        """`valid_ppl` and `reward = c / valid_ppl` of a mean loss; a non-finite loss
        (a diverged child) scores reward 0 and perplexity inf (null in JSON)."""
        ppl = _exp(loss)
        reward = self.reward_constant / ppl if math.isfinite(ppl) else 0.0
        return {"valid_ppl": ppl, "reward": reward}

    def score_arcs(self, arcs, scoring, seed=0, num_batches=1):
        """Scores arcs: `valid_ppl` and `reward = c / valid_ppl` (see `derive.derive`).

        `"minibatch"`: the mean cross-entropy over `num_batches` validation minibatches
        (the same for every arc, each from a zero state); `"full"`: the whole split.
        """
        results = []
        if scoring == "full":
            batches = (self._reward_x, self._reward_y)
            for arc in arcs:
                loss = math.log(self.split_perplexity(tf.constant(arc), batches))
                results.append(self._scores(loss))
            return results
        indices = pick_batches(len(self._reward_x), num_batches, seed)
        batches = [
            (tf.constant(self._reward_x[i]), tf.constant(self._reward_y[i])) for i in indices
        ]
        loss_fn = tf.function(self.batch_loss)
        for arc in arcs:
            arc = tf.constant(arc)
            loss = np.mean([float(loss_fn(x, y, arc)) for x, y in batches])
            results.append(self._scores(loss))
        return results


def _exp(loss):
    """`exp(loss)`, inf for a loss too large (or NaN) instead of OverflowError or NaN."""
    loss = float(loss)
    return math.exp(loss) if loss < 700 else math.inf


def _cross_entropy(y, logits):
    """Mean token cross-entropy in nats."""
    logits = tf.cast(logits, tf.float32)  # the softmax runs in float32 under mixed precision
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
