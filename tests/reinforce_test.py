"""Tests for keras_enas.reinforce: rewards, baseline order, REINFORCE sign, aggregation, tracing."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_enas import reinforce
from keras_enas.controller import Controller
from keras_enas.search_spaces import base


def rnn_steps(num_nodes=4):
    steps = []
    for k in range(1, num_nodes + 1):
        steps += [
            base.InputChoice(f"node{k}_input", k, True, True, True),
            base.OpChoice(f"node{k}_act", "act", 4),
        ]
    return tuple(steps)


def macro_steps(num_layers=4):
    steps = []
    for k in range(num_layers):
        steps.append(base.OpChoice(f"layer{k}_op", "conv", 6))
        steps.append(
            base.AnchorStep("layer0", reset_input=True)
            if k == 0
            else base.SkipChoice(f"layer{k}_skips", k)
        )
    return tuple(steps)


def ops_equal_two(arc):
    """Toy reward: the fraction of the rnn space's op tokens (odd positions) equal to 2."""
    return ops.mean(ops.cast(ops.equal(arc[1::2], 2), "float32"))


def test_ppl_reward():
    assert float(reinforce.ppl_reward(math.log(100.0))) == pytest.approx(0.8)
    assert float(reinforce.ppl_reward(0.0)) == pytest.approx(80.0)
    assert float(reinforce.ppl_reward(math.log(4.0), reward_constant=2.0)) == pytest.approx(0.5)


def test_reinforce_loss_and_entropy_bonus_gradients():
    log_prob, reward, entropy = tf.Variable(-2.0), tf.Variable(1.5), tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as tape:
        bonus = reinforce.entropy_bonus_reward(reward, entropy, 0.1)
        loss = reinforce.reinforce_loss(log_prob, bonus, 0.5)
    assert float(bonus) == pytest.approx(1.8)
    assert float(loss) == pytest.approx(-(1.8 - 0.5) * -2.0)
    # ENAS §2.2: ∂L/∂log π = −(R − b); no gradient reaches the reward or the entropy.
    assert float(tape.gradient(loss, log_prob)) == pytest.approx(-1.3)
    assert tape.gradient(loss, reward) is None and tape.gradient(bonus, entropy) is None


def test_baseline_update_returns_old_value():
    baseline = reinforce.MovingAverageBaseline(decay=0.9)
    expected = 0.0
    for reward in (1.0, 3.0, -2.0, 0.5):
        old = baseline.update(reward)
        assert float(old) == pytest.approx(expected)
        expected = expected - 0.1 * (expected - reward)
        assert float(baseline.value) == pytest.approx(expected)
    # By hand: 0 → 0.1 → 0.39 → 0.151 → 0.1859.
    assert float(baseline.value) == pytest.approx(0.1859)
    assert not baseline.variable.trainable


@pytest.mark.parametrize("compiled", [False, True])
def test_accumulate_metrics_use_old_baseline(compiled):
    controller = Controller(rnn_steps(), 1, hidden_size=8, seed=0)
    trainer = reinforce.ControllerTrainer(controller, baseline_decay=0.8, entropy_weight=0.01)
    accumulate = lambda: trainer.accumulate(ops_equal_two)  # noqa: E731
    accumulate = tf.function(accumulate) if compiled else accumulate
    b = 0.0
    for _ in range(5):
        metrics, arc = accumulate()
        m = {k: float(v) for k, v in metrics.items()}
        assert m["raw_reward"] == pytest.approx(float(ops_equal_two(arc)))
        assert m["reward"] == pytest.approx(m["raw_reward"] + 0.01 * m["entropy"])
        assert m["baseline"] == pytest.approx(b, abs=1e-6)
        assert m["advantage"] == pytest.approx(m["reward"] - b, abs=1e-6)
        assert m["skip_penalty"] == 0.0
        np.testing.assert_allclose(controller.log_prob(arc)[0], m["log_prob"], rtol=1e-5)
        b = b - 0.2 * (b - m["reward"])
    assert float(trainer.baseline.value) == pytest.approx(b, abs=1e-6)
    assert int(trainer.count) == 5


@pytest.mark.parametrize("reward, sign", [(1.0, 1.0), (-1.0, -1.0)])
def test_reinforce_sign(reward, sign):
    """Positive advantage raises log π of the sampled arc; negative lowers it."""
    controller = Controller(rnn_steps(), 1, hidden_size=8, init_range=0.5, seed=1)
    trainer = reinforce.ControllerTrainer(controller, learning_rate=0.05)
    metrics, arc = trainer.accumulate(lambda arc: reward)
    assert float(metrics["advantage"]) == reward  # baseline starts at 0
    before = float(controller.log_prob(arc)[0])
    trainer.apply()
    assert sign * (float(controller.log_prob(arc)[0]) - before) > 1e-3


def test_apply_uses_mean_of_accumulated_gradients():
    controller = Controller(macro_steps(), hidden_size=8, init_range=0.3, seed=2)
    trainer = reinforce.ControllerTrainer(
        controller,
        optimizer=keras.optimizers.SGD(learning_rate=0.5),
        entropy_weight=0.1,
        skip_weight=0.8,
        num_aggregate=3,
    )
    rewards = iter([0.3, 0.9, 0.5])
    samples = [trainer.accumulate(lambda arc: next(rewards)) for _ in range(3)]
    arcs = tf.stack([arc for _, arc in samples])
    advantages = tf.stack([m["advantage"] for m, _ in samples])
    variables = controller.trainable_variables
    before = [v.numpy() for v in variables]
    with tf.GradientTape() as tape:  # one batch: mean over the 3 arcs of the per-arc loss
        log_prob, _, penalty = controller.log_prob(arcs, return_skip_penalty=True)
        loss = ops.mean(-advantages * log_prob + 0.8 * penalty)
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
    assert all(float(ops.max(ops.abs(g))) > 0 for g in grads)
    for accumulator, grad in zip(trainer.accumulators, grads):
        np.testing.assert_allclose(accumulator, 3 * grad, rtol=1e-4, atol=1e-6)
    trainer.apply()
    for v, old, grad in zip(variables, before, grads):
        np.testing.assert_allclose(v, old - 0.5 * grad, rtol=1e-4, atol=1e-6)
    assert int(trainer.count) == 0
    assert all(not np.any(a.numpy()) for a in trainer.accumulators)


def test_step_applies_every_num_aggregate():
    controller = Controller(rnn_steps(), 1, hidden_size=8, seed=3)
    trainer = reinforce.ControllerTrainer(controller, num_aggregate=2)
    applied = [bool(trainer.step(ops_equal_two)[0]["applied"]) for _ in range(4)]
    assert applied == [False, True, False, True]
    assert int(trainer.optimizer.iterations) == 2


def test_accumulate_apply_step_trace_once():
    controller = Controller(rnn_steps(), 1, hidden_size=8, seed=4)
    trainer = reinforce.ControllerTrainer(controller, num_aggregate=3)
    accumulate = tf.function(lambda: trainer.accumulate(ops_equal_two))
    apply, step = tf.function(trainer.apply), tf.function(lambda: trainer.step(ops_equal_two))
    arcs = set()
    for i in range(60):
        arcs.add(tuple(accumulate()[1].numpy()))
        if i % 3 == 2:
            apply()
        arcs.add(tuple(step()[1].numpy()))
    assert accumulate.experimental_get_tracing_count() == 1
    assert apply.experimental_get_tracing_count() == 1
    assert step.experimental_get_tracing_count() == 1
    assert len(arcs) > 50
    assert int(trainer.optimizer.iterations) == 20 + 20


def test_controller_learns_toy_reward():
    """After 100 Adam updates the policy prefers op 2 (uniform policy: reward 0.25)."""
    controller = Controller(rnn_steps(), 1, hidden_size=16, seed=5)
    trainer = reinforce.ControllerTrainer(
        controller, learning_rate=0.02, baseline_decay=0.9, num_aggregate=2
    )
    step = tf.function(lambda: trainer.step(ops_equal_two))

    def mean_reward():
        arcs = controller.sample_batch(400)[0]
        return float(ops.mean(ops.cast(ops.equal(arcs[:, 1::2], 2), "float32")))

    assert mean_reward() < 0.35
    for _ in range(200):
        step()
    assert mean_reward() > 0.7


def test_checkpoint_resume_reproduces_training(tmp_path):
    def make():
        controller = Controller(macro_steps(), hidden_size=8, seed=6)
        return reinforce.ControllerTrainer(
            controller, num_aggregate=2, skip_weight=0.8, entropy_weight=0.01
        )

    def reward_fn(arc):
        return ops.mean(ops.cast(arc, "float32"))

    def run(trainer, n):
        return [{k: float(v) for k, v in trainer.step(reward_fn)[0].items()} for _ in range(n)]

    trainer = make()
    run(trainer, 3)  # mid-aggregation: one gradient waits in the accumulators
    path = tf.train.Checkpoint(trainer=trainer).write(str(tmp_path / "ckpt"))
    expected = run(trainer, 4)
    resumed = make()
    tf.train.Checkpoint(trainer=resumed).read(path).assert_consumed()
    for got, want in zip(run(resumed, 4), expected, strict=True):
        assert got == pytest.approx(want)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_aggregate=0), r"`num_aggregate` must be an int >= 1. Received: num_aggregate=0"),
        (dict(num_aggregate=1.5), r"`num_aggregate` must be an int >= 1"),
        (dict(entropy_weight=-1.0), r"`entropy_weight` must be >= 0. Received: entropy_weight=-1"),
        (dict(skip_weight=-0.1), r"`skip_weight` must be >= 0"),
        (dict(baseline_decay=1.5), r"`decay` must be in \[0, 1\]. Received: decay=1.5"),
    ],
)
def test_trainer_errors(kwargs, match):
    controller = Controller(rnn_steps(2), 1, hidden_size=4)
    with pytest.raises(ValueError, match=match):
        reinforce.ControllerTrainer(controller, **kwargs)
