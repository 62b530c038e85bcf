"""REINFORCE for the controller: rewards, moving-average baseline, loss and gradient aggregation."""

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from keras_enas import distribute

__all__ = [
    "ControllerTrainer",
    "entropy_bonus_reward",
    "MovingAverageBaseline",
    "ppl_reward",
    "reinforce_loss",
]


def ppl_reward(mean_cross_entropy, reward_constant=80.0):
    """PTB reward `c / perplexity` = `c / exp(mean token cross-entropy)` (ENAS §3.4, c = 80)."""
    return reward_constant / ops.exp(mean_cross_entropy)


def entropy_bonus_reward(reward, entropy, entropy_weight):
    """`R + w · stop_gradient(H)`: the entropy bonus acts only through the advantage."""
    return reward + entropy_weight * ops.stop_gradient(entropy)


def reinforce_loss(log_prob, reward, baseline):
    """ENAS §2.2: ∇θ ≈ (R − b) ∇θ log π(arc); returns `-stop_gradient(R - b) · log π`."""
    return -ops.stop_gradient(reward - baseline) * log_prob


class MovingAverageBaseline(keras.layers.Layer):
    """Exponential moving average of the reward, `b ← b − (1 − decay)(b − R)` (ENAS §3.4).

    Order (fixed here; the original leaves it unspecified): `update(R)` returns the OLD `b`,
    which the caller uses for the advantage `R − b`; only then is `b` moved towards `R`.
    The value is a non-trainable scalar weight initialised to 0, so checkpoints restore it.

    Args:
        decay: EMA decay in [0, 1] (`controller_bl_dec`, 0.99 in the original).
        name: layer name.

    Raises:
        ValueError: if `decay` is outside [0, 1].

    Example:

    >>> baseline = MovingAverageBaseline(decay=0.9)
    >>> old = baseline.update(1.0)   # old == 0.0; baseline.value == 0.1
    """

    def __init__(self, decay=0.99, name="baseline", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= decay <= 1:
            raise ValueError(f"`decay` must be in [0, 1]. Received: decay={decay}")
        self.decay = decay
        self.variable = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="value"
        )
        self.built = True

    @property
    def value(self):
        """The current baseline b (a scalar float32 snapshot, not a view of the variable)."""
        return tf.identity(self.variable.value)

    def update(self, reward):
        """Moves b towards `reward` and returns the value b had before the update."""
        old = self.value
        self.variable.assign(old - (1.0 - self.decay) * (old - reward))
        return old


class ControllerTrainer(keras.layers.Layer):
    """Trains the controller with REINFORCE, averaging gradients over `num_aggregate` arcs.

    `accumulate(reward_fn)` samples one arc, scores it with `reward_fn`, adds the entropy
    bonus, and adds the gradient of `-(R − b) log π(arc) + skip_weight · skip_penalty` to
    non-trainable accumulator weights (one per controller trainable weight). `apply()`
    applies their MEAN with the optimizer and zeros them (ENAS §3.4: one Adam step per
    `num_aggregate` samples); `step(reward_fn)` does both, applying every `num_aggregate`
    calls. All three are valid `tf.function` bodies that trace once.

    Args:
        controller: a `Controller`.
        learning_rate: Adam learning rate.
        beta_1: Adam β1 (the original code: 0.0; enas_lm: 0.9).
        epsilon: Adam ε (the original code: 1e-3; enas_lm: 1e-8).
        optimizer: a Keras optimizer to use instead of `Adam(learning_rate, beta_1,
            epsilon)`; the three arguments above are then ignored.
        baseline_decay: decay of the `MovingAverageBaseline`.
        entropy_weight: weight of the entropy bonus added to the reward.
        skip_weight: weight of the skip KL penalty added to the loss (0.8 for macro).
        num_aggregate: sampled arcs per optimizer step (used by `step`).
        name: layer name.

    Raises:
        ValueError: if `num_aggregate < 1`, a weight is negative or `baseline_decay` is
            outside [0, 1].

    Example:

    >>> trainer = ControllerTrainer(controller, learning_rate=1e-3, num_aggregate=10)
    >>> step = tf.function(lambda: trainer.step(reward_fn))   # reward_fn(arc) -> scalar
    >>> metrics, arc = step()
    """

    def __init__(
        self,
        controller: keras.Model,
        learning_rate: float = 1e-3,
        beta_1: float = 0.0,
        epsilon: float = 1e-3,
        optimizer: keras.optimizers.Optimizer | None = None,
        baseline_decay: float = 0.99,
        entropy_weight: float = 0.0,
        skip_weight: float = 0.0,
        num_aggregate: int = 1,
        name: str = "controller_trainer",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if not isinstance(num_aggregate, int) or num_aggregate < 1:
            raise ValueError(
                f"`num_aggregate` must be an int >= 1. Received: num_aggregate={num_aggregate}"
            )
        for arg, value in (("entropy_weight", entropy_weight), ("skip_weight", skip_weight)):
            if not value >= 0:
                raise ValueError(f"`{arg}` must be >= 0. Received: {arg}={value}")
        self.controller = controller
        self.optimizer = optimizer or keras.optimizers.Adam(
            learning_rate, beta_1=beta_1, epsilon=epsilon
        )
        self.optimizer.build(controller.trainable_variables)  # no variables made in traces
        self.baseline = MovingAverageBaseline(baseline_decay)
        self.entropy_weight, self.skip_weight = entropy_weight, skip_weight
        self.num_aggregate = num_aggregate
        self.accumulators = tuple(
            self.add_weight(
                shape=v.shape, initializer="zeros", trainable=False, name=f"accumulated_{v.name}"
            )
            for v in controller.trainable_variables
        )
        self.count = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="count"
        )
        self.built = True

    def build(self, input_shape=None):
        """Nothing to do: accumulators, baseline and optimizer slots exist after `__init__`."""
        self.built = True

    def accumulate(self, reward_fn, arc=None):
        """Samples an arc and adds its REINFORCE gradient to the accumulators.

        Args:
            reward_fn: callable `arc -> raw reward` (scalar); no gradient flows through it.
                A reward that is not finite (a diverged child) counts as 0.
            arc: optional int32 `[arc_length]` arc to score instead of sampling one (the
                same walk, teacher-forced: e.g. to compare XLA and graph mode, whose
                random streams differ, on one arc).

        Returns:
            `(metrics, arc)`: a dict of scalars `reward` (with entropy bonus), `raw_reward`,
            `baseline` (the b used in the advantage, before its update), `advantage`,
            `entropy`, `log_prob`, `skip_penalty`; and the int32 arc.
        """
        variables = self.controller.trainable_variables
        with tf.GradientTape() as tape:
            if arc is None:
                arc, log_prob, entropy, skip_penalty = self.controller.sample(
                    return_skip_penalty=True
                )
            else:
                arc = ops.convert_to_tensor(arc, "int32")
                log_prob, entropy, skip_penalty = self.controller.log_prob(
                    arc, return_skip_penalty=True
                )
            with tape.stop_recording():
                raw_reward = ops.cast(ops.stop_gradient(reward_fn(arc)), "float32")
            loss, metrics = self._loss(log_prob, entropy, skip_penalty, raw_reward)
        self._add(tape.gradient(loss, variables))
        return metrics, arc

    def accumulate_arc(self, arc, raw_reward):
        """`accumulate` for an arc sampled and rewarded elsewhere (e.g. on another replica).

        `log π(arc)` is recomputed by teacher forcing (`Controller.log_prob`); the
        baseline is updated and the gradient added as in `accumulate`. Returns the
        metrics dict of `accumulate`.
        """
        variables = self.controller.trainable_variables
        with tf.GradientTape() as tape:
            log_prob, entropy, skip_penalty = self.controller.log_prob(
                arc, return_skip_penalty=True
            )
            raw_reward = ops.cast(ops.stop_gradient(raw_reward), "float32")
            loss, metrics = self._loss(log_prob, entropy, skip_penalty, raw_reward)
        self._add(tape.gradient(loss, variables))
        return metrics

    def _loss(self, log_prob, entropy, skip_penalty, raw_reward):
        """The REINFORCE loss of one arc (updates the baseline) and its metrics."""
        # A diverged child (NaN/inf reward) earns 0, so θ stays finite.
        raw_reward = ops.where(ops.isfinite(raw_reward), raw_reward, 0.0)
        reward = entropy_bonus_reward(raw_reward, entropy, self.entropy_weight)
        baseline = self.baseline.update(reward)  # advantage uses the old b
        loss = reinforce_loss(log_prob, reward, baseline)
        loss = loss + self.skip_weight * skip_penalty  # ENAS §3.3, differentiable
        metrics = dict(
            reward=reward,
            raw_reward=raw_reward,
            baseline=baseline,
            advantage=reward - baseline,
            entropy=entropy,
            log_prob=log_prob,
            skip_penalty=skip_penalty,
        )
        return loss, metrics

    def _add(self, grads):
        """Adds one arc's gradients to the accumulators."""
        for accumulator, grad in zip(self.accumulators, grads):
            if grad is not None:  # None: weight unused by this space (e.g. no attention)
                accumulator.assign_add(tf.convert_to_tensor(grad))  # densify IndexedSlices
        self.count.assign_add(1)

    def apply(self):
        """Applies the mean of the accumulated gradients and resets the accumulators."""
        count = ops.maximum(ops.cast(self.count, "float32"), 1.0)
        grads = [ops.convert_to_tensor(a) / count for a in self.accumulators]
        # Under a strategy every replica holds the same accumulators (see `distribute`).
        distribute.apply_gradients(self.optimizer, grads, self.controller.trainable_variables)
        for accumulator in self.accumulators:
            accumulator.assign(ops.zeros_like(accumulator))
        self.count.assign(0)

    def step(self, reward_fn):
        """`accumulate(reward_fn)`, then `apply()` once `num_aggregate` arcs are in."""
        metrics, arc = self.accumulate(reward_fn)

        def apply():
            self.apply()
            return ops.convert_to_tensor(True)

        metrics["applied"] = ops.cond(
            self.count >= self.num_aggregate, apply, lambda: ops.convert_to_tensor(False)
        )
        return metrics, arc
