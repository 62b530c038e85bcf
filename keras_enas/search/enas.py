"""`ENASSearch`: the weight-sharing search as a `keras.Model` whose `fit()` runs it.

Each training step samples a fresh architecture (M = 1, ENAS §2.2) and trains the
shared weights ω on one minibatch; at the end of every epoch a controller phase
trains the policy θ with REINFORCE on validation rewards (ENAS §2.2). With
`strategy="random"` arcs are drawn uniformly and θ is never trained: the random-search
baseline with the same weight-sharing budget (Li & Talwalkar 2019).
"""

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_enas import distribute, precision
from keras_enas.run import malloc, nonfinite
from keras_enas.search_spaces.space import SearchSpace

__all__ = ["ENASSearch"]


class ENASSearch(malloc.ReleasesHeapAfterCompile, distribute.BuiltBeforeFit, keras.Model):
    """Base class: the child/controller alternation, independent of the task.

    Subclasses implement `child_loss(x, y, arc, training)` and `reward(arc)`.

    Args:
        space: the search space (its `steps` define the arc).
        child: the shared-weight model.
        trainer: a `reinforce.ControllerTrainer` wrapping the controller.
        strategy: `"enas"` or `"random"`.
        grad_clip: global-norm clip for ω's gradients (0 disables).
        seed: seed of the search's own random draws (random arcs, reward batches).
        arcs_per_step: under a `tf.distribute` strategy with several replicas, `"1"`
            (one arc trains on the whole global batch) or `"replicas"` (each replica's
            share of the batch trains its own sampled arc).

    Under `strategy.scope()` each step's gradient is averaged over the replicas
    before clipping, and the controller phase rewards one arc per replica in parallel.
    """

    def __init__(
        self,
        space: SearchSpace,
        child: keras.Model,
        trainer: keras.Model,
        strategy: str = "enas",
        grad_clip: float = 0.0,
        seed: int | None = None,
        arcs_per_step: str = "1",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if strategy not in ("enas", "random"):
            raise ValueError(
                f"`strategy` must be 'enas' or 'random'. Received: strategy={strategy!r}"
            )
        if str(arcs_per_step) not in ("1", "replicas"):
            raise ValueError(
                "`arcs_per_step` must be '1' or 'replicas'. "
                f"Received: arcs_per_step={arcs_per_step!r}"
            )
        self.arcs_per_step = str(arcs_per_step)
        self.space = space
        self.child = child
        self.trainer = trainer
        self.controller = trainer.controller
        self.strategy = strategy
        self.grad_clip = float(grad_clip)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Values each arc token can take, in the stored arc order.
        self._token_bounds = np.asarray(space.num_choices, np.float32)
        self.epochs_done = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="epochs_done"
        )
        # Training steps skipped because their loss or gradient was not finite.
        self.nonfinite_steps = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="nonfinite_steps"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._phase_fns = None

    @property
    def metrics(self):
        return [self.loss_tracker]

    def sample_arc(self):
        """Samples one arc: from the controller, or uniformly for random search."""
        if self.strategy == "random":
            return self.uniform_arc()
        arc, _, _ = self.controller.sample()
        return arc

    def sample_arcs(self, num):
        """Samples `num` arcs `(num, arc_length)` (controller, or uniform for random search)."""
        if self.strategy == "random":
            return self.uniform_arc(num)
        return self.controller.sample_batch(num)[0]

    def uniform_arc(self, num=None):
        """An arc whose every token is uniform over its range (ENAS §3.3 "random").

        With `num`, `num` such arcs `(num, arc_length)`.
        """
        shape = self._token_bounds.shape if num is None else (num, *self._token_bounds.shape)
        u = keras.random.uniform(shape, seed=self.seed_generator)
        arc = tf.cast(tf.floor(u * self._token_bounds), tf.int32)
        return tf.minimum(arc, self._token_bounds.astype(np.int32) - 1)

    def compile(self, optimizer="rmsprop", **kwargs):
        """`keras.Model.compile`; a float16 child's optimizer gets dynamic loss scaling."""
        optimizer = precision.loss_scaled(optimizer, self.child)  # decided by the child
        super().compile(optimizer=optimizer, auto_scale_loss=False, **kwargs)

    def step_state_variables(self):
        """Variables the forward pass writes besides the child's (e.g. a carried state)."""
        return []

    def step_arc(self, per_replica=None):
        """The arc this replica trains now: the sampled arc of a one-device step.

        Under a strategy with several replicas, replica 0's samples are broadcast, so
        that every replica agrees; with `arcs_per_step="replicas"` (or `per_replica`)
        replica r takes the r-th of `replicas` sampled arcs.
        """
        n = distribute.replicas_in_step()
        if n == 1:
            return self.sample_arc()
        if per_replica is None:
            per_replica = self.arcs_per_step == "replicas"
        if not per_replica:
            return distribute.broadcast_from_first(self.sample_arc())
        arcs = distribute.broadcast_from_first(self.sample_arcs(n))
        return tf.gather(arcs, distribute.replica_id())

    def child_train_step(self, x, y, arc):
        """One ω update on the child `arc` (ENAS §2.2, phase 1). Returns the loss.

        A step whose loss or gradient norm is not finite (on any replica) changes nothing
        (BatchNorm statistics, carried states put back), is counted in `nonfinite_steps`
        and returns NaN. Replicas' gradients are averaged before the clip, as on one device.
        """
        variables = self.child.trainable_variables
        kept = nonfinite.snapshot(self.child.non_trainable_variables + self.step_state_variables())
        with tf.GradientTape() as tape:
            loss, objective = self.child_loss(x, y, arc, training=True)
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
        return tf.where(finite, loss, tf.constant(np.nan, loss.dtype))

    def train_step(self, data):
        x, y = data
        loss = self.child_train_step(x, y, self.step_arc())
        finite = tf.math.is_finite(loss)
        # The epoch's mean loss is over the steps that were taken.
        self.loss_tracker.update_state(
            tf.where(finite, loss, tf.zeros_like(loss)), sample_weight=tf.cast(finite, loss.dtype)
        )
        return distribute.step_logs({**self._logs(), "nonfinite_steps": self.nonfinite_steps})

    def test_step(self, data):
        x, y = data
        loss, _ = self.child_loss(x, y, self.step_arc(per_replica=False), training=False)
        self.loss_tracker.update_state(loss)
        return distribute.step_logs(self._logs())

    def _logs(self):
        return {"loss": self.loss_tracker.result()}

    def child_loss(self, x, y, arc, training):
        """Returns `(task loss, objective to minimise)`; implemented by subclasses."""
        raise NotImplementedError

    def reward(self, arc):
        """Raw reward of `arc` on one validation minibatch; implemented by subclasses."""
        raise NotImplementedError

    def controller_phase(self, num_updates, num_logged=10):
        """Trains θ for `num_updates` Adam updates (ENAS §2.2, phase 2).

        Each update averages the REINFORCE gradients of `trainer.num_aggregate` sampled
        arcs, each rewarded on one validation minibatch. Under a strategy with R > 1
        replicas the arcs come in rounds of R, rewarded in parallel (one arc per replica
        on its own minibatch), and an update averages ⌈num_aggregate / R⌉ · R arcs.
        With `strategy="random"` θ is not trained; `num_logged` uniform arcs are
        scored instead, for the log.

        Returns:
            `(logs, samples)`: mean figures of the phase, and the last `num_logged`
            `(arc, reward)` pairs as numpy values.
        """
        replicas = distribute.num_replicas(self.distribute_strategy)
        fns = self.step_functions()
        accumulate, apply, score_uniform = fns["accumulate"], fns["apply"], fns["score_uniform"]
        if replicas > 1:
            accumulate = fns["parallel_round"]
        else:
            one = accumulate
            accumulate = lambda: [one()]  # noqa: E731
        history, samples = [], []
        if self.strategy == "random":
            for _ in range(num_logged):
                arc, reward = score_uniform()
                samples.append((arc.numpy(), float(reward)))
            return {"reward": float(np.mean([r for _, r in samples]))}, samples
        for _ in range(num_updates):
            for _ in range(math.ceil(self.trainer.num_aggregate / replicas)):
                for stats, arc in accumulate():
                    stats = {k: float(v) for k, v in stats.items()}
                    history.append(stats)
                    samples.append((arc.numpy(), stats["raw_reward"]))
            apply()
        logs = {k: float(np.mean([h[k] for h in history])) for k in history[0]} if history else {}
        if history:
            logs["baseline"] = history[-1]["baseline"]
        return logs, samples[-num_logged:] if num_logged else []

    def step_functions(self):
        """The search's compiled steps, traced once each for every arc (cached).

        Each is a `tf.function`, XLA-compiled when the search was compiled with
        `jit_compile=True` (`fit` compiles `train_step` the same way):
        `child_step(x, y, arc)` (`child_train_step`), `accumulate(arc=None)` (sample an
        arc, or take `arc`, reward it, add its REINFORCE gradient; see
        `ControllerTrainer.accumulate`), `apply()` (one controller update) and
        `score_uniform()` (a uniform arc and its reward, for random search).

        Returns:
            A dict of the four functions.
        """
        if self._phase_fns is None:
            jit = self.jit_compile is True

            def compiled(fn):
                return malloc.released_after_compile(tf.function(fn, jit_compile=jit))

            # In a replica context: optimizers built under a strategy update only there.
            run = self.distribute_strategy.run
            self._phase_fns = {
                "child_step": compiled(self.child_train_step),
                "accumulate": compiled(
                    lambda arc=None: run(lambda: self.trainer.accumulate(self.reward, arc))
                ),
                "apply": compiled(lambda: run(self.trainer.apply)),
                "score_uniform": compiled(self._score_uniform_arc),
                "parallel_round": compiled(self._parallel_round),
            }
        return self._phase_fns

    def _parallel_round(self):
        """R arcs rewarded at once, one per replica; θ's gradients then added in order.

        Replica 0's R samples are broadcast; replica r rewards the r-th on its own
        validation minibatch; the R rewards are gathered, and every replica adds the
        same REINFORCE gradients (`trainer.accumulate_arc`) arc by arc, so that the
        mirrored controller, baseline and accumulators stay equal.
        """
        strategy = self.distribute_strategy
        n = strategy.num_replicas_in_sync

        def on_replicas():
            arcs = distribute.broadcast_from_first(self.sample_arcs(n))
            reward = self.reward(tf.gather(arcs, distribute.replica_id()))
            rewards = distribute.gather_scalars(reward)
            return [self.trainer.accumulate_arc(arcs[i], rewards[i]) for i in range(n)], arcs

        stats, arcs = strategy.run(on_replicas)
        first = lambda v: strategy.experimental_local_results(v)[0]  # noqa: E731
        stats, arcs = tf.nest.map_structure(first, stats), first(arcs)
        return [(stats[i], arcs[i]) for i in range(n)]

    def _score_uniform_arc(self):
        arc = self.uniform_arc()
        return arc, self.reward(arc)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the controller phase run at the end of every epoch.

        A `ControllerPhase` callback is put first unless one is given, so that the
        controller's figures reach every later callback (CSVLogger, TensorBoard, ...).
        """
        from keras_enas.search.callbacks import ControllerPhase  # pylint: disable=g-import-not-at-top

        callbacks = list(callbacks or [])
        if not any(isinstance(c, ControllerPhase) for c in callbacks):
            callbacks.insert(0, ControllerPhase())
        return super().fit(*args, callbacks=callbacks, **kwargs)
