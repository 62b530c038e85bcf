"""A synthetic reward with a known optimum, to check that a controller learns (and how fast)."""

import numpy as np
import tensorflow as tf

__all__ = ["match_reward", "target_token_probability", "train_on_reward"]


def match_reward(target, noise_std=0.0, offset=0.0, scale=1.0, seed=0):
    """`R(arc) = scale · (offset + mean(arc == target) + noise)`, noise ~ N(0, noise_std²).

    The optimum is the hidden `target` arc (for `scale > 0`). A large `offset` makes a
    controller trained without a baseline fail: its gradient then carries mostly the
    variance of `offset · ∇ log π` (ENAS §3.4 uses the baseline for exactly this).

    Args:
        target: the hidden target arc (ints, stored order).
        noise_std: standard deviation of the Gaussian noise added to each reward.
        offset: constant added to the match fraction.
        scale: multiplies the reward (e.g. 0.1 mimics PTB's small reward differences);
            a negative scale (a negative control) punishes matching the target.
        seed: seed of the noise.

    Returns:
        A callable `arc -> float32 scalar`, usable inside `tf.function`.

    Raises:
        ValueError: if `noise_std < 0` or `target` is empty.
    """
    target = np.asarray(target, np.int32).reshape(-1)
    if not len(target):
        raise ValueError("`target` must hold at least one token. Received: target=[]")
    if not noise_std >= 0:
        raise ValueError(f"`noise_std` must be >= 0. Received: noise_std={noise_std}")
    generator = tf.random.Generator.from_seed(seed)
    target_t = tf.constant(target)

    def reward(arc):
        match = tf.reduce_mean(tf.cast(tf.equal(tf.cast(arc, tf.int32), target_t), tf.float32))
        noise = generator.normal(()) * noise_std
        return scale * (offset + match + noise)

    return reward


def target_token_probability(controller, target):
    """Mean over tokens of π(target[i] | target[:i]), the policy teacher-forced on `target`.

    Exact (no sampling). 1 / num_choices on average for a uniform policy, 1 at the optimum.
    """
    target = np.asarray(target, np.int32).reshape(1, -1)
    _, probs = controller.decision_probs(arc=target)
    return float(np.mean([float(p[0, t]) for p, t in zip(probs, target[0])]))


def train_on_reward(trainer, reward_fn, num_updates, target=None, every=0):
    """Runs `num_updates` controller updates of `trainer` on `reward_fn`.

    Each update samples `trainer.num_aggregate` arcs (one compiled call per update).

    Args:
        trainer: a `reinforce.ControllerTrainer`.
        reward_fn: `arc -> scalar` (e.g. `match_reward(...)`).
        num_updates: optimizer updates to run.
        target: if given, `target_token_probability` is recorded.
        every: record the figures every this many updates (0: only at the end).

    Returns:
        A list of dicts `{"update", "entropy", "raw_reward"[, "target_probability"]}`;
        the first describes the policy before training.
    """
    update = tf.function(lambda: _one_update(trainer, reward_fn))
    history = [_record(trainer, 0, None, target)]
    for i in range(1, num_updates + 1):
        stats = update()
        if (every and i % every == 0) or i == num_updates:
            history.append(_record(trainer, i, stats, target))
    return history


def _one_update(trainer, reward_fn):
    """`num_aggregate` accumulations, then one optimizer step; returns mean figures."""
    entropy, reward = tf.constant(0.0), tf.constant(0.0)
    for _ in tf.range(trainer.num_aggregate):
        stats, _ = trainer.accumulate(reward_fn)
        entropy += stats["entropy"]
        reward += stats["raw_reward"]
    trainer.apply()
    n = float(trainer.num_aggregate)
    return {"entropy": entropy / n, "raw_reward": reward / n}


def _record(trainer, update, stats, target):
    if stats is None:
        _, _, entropy = trainer.controller.sample_batch(64)
        stats = {"entropy": tf.reduce_mean(entropy), "raw_reward": np.nan}
    record = {"update": update, **{k: float(v) for k, v in stats.items()}}
    if target is not None:
        record["target_probability"] = target_token_probability(trainer.controller, target)
    return record
