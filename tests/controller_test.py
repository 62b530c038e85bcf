"""Tests for keras_enas.controller: closed forms, a numpy reference walk, seeding, tracing."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from keras_enas.controller import Controller
from keras_enas.search_spaces import base


def rnn_steps(num_nodes=4, recency=True):
    """PTB-like: anchor 0 is a zero vector; node k picks an input among k anchors, then an op."""
    steps = []
    for k in range(1, num_nodes + 1):
        steps += [
            base.InputChoice(
                f"node{k}_input",
                k,
                register_anchor=True,
                recency_bias=recency,
                distance_scaled_feedback=recency,
            ),
            base.OpChoice(f"node{k}_act", "act", 4),
        ]
    return tuple(steps)


def macro_steps(num_layers=4):
    """Macro-like: an op per layer, then skip bits over every earlier layer's anchor."""
    steps = []
    for k in range(num_layers):
        steps.append(base.OpChoice(f"layer{k}_op", "conv", 6))
        steps.append(
            base.AnchorStep("layer0", reset_input=True)
            if k == 0
            else base.SkipChoice(f"layer{k}_skips", k)
        )
    return tuple(steps)


def micro_steps(num_nodes=2, bias=None, fixed=None, scale=1.0):
    """Micro-like: two zero input anchors per cell, two inputs and two ops per node."""
    steps = []
    for cell in ("normal", "reduce"):
        steps += [
            base.AnchorStep(f"{cell}_in0", True, True, reset_anchors=True),
            base.AnchorStep(f"{cell}_in1", True, True),
        ]
        for b in range(2, num_nodes + 2):
            steps += [base.InputChoice(f"{cell}{b}_{i}", b) for i in "xy"]
            steps += [
                base.OpChoice(
                    f"{cell}{b}_{i}_op",
                    "micro",
                    5,
                    scale,
                    bias,
                    fixed if cell == "normal" else None,
                )
                for i in "xy"
            ]
            steps.append(base.AnchorStep(f"{cell}{b}", reset_input=True))
    return tuple(steps)


# A space using every feature of the schema, for the reference walk.
MIXED = (
    base.OpChoice("op", "a", 3, 0.5, (0.5, 0.0, -0.5), (0.1, 0.0, 0.0)),
    base.InputChoice("in1", 1, True, True, True),
    base.AnchorStep("anchor", zero_anchor=True),
    base.InputChoice("in2", 3, recency_bias=True),
    base.SkipChoice("skip1", 3),
    base.AnchorStep("reset", reset_input=True),
    base.OpChoice("op2", "a", 3),
    base.SkipChoice("skip2", 5, register_anchor=False),
    base.InputChoice("in3", 4, distance_scaled_feedback=True),
    base.AnchorStep("restart", reset_anchors=True),
    base.SkipChoice("skip3", 1),
)

SPACES = {
    "rnn": (rnn_steps(), 1),
    "macro": (macro_steps(), 0),
    "micro": (micro_steps(), 0),
    "mixed": (MIXED, 1),
}


def choice_sizes(steps):
    """Number of outcomes of every categorical decision (a skip bit is a 2-way choice)."""
    sizes = []
    for step in steps:
        if isinstance(step, base.OpChoice):
            sizes.append(step.num_ops)
        elif isinstance(step, base.InputChoice):
            sizes.append(step.num_anchors)
        elif isinstance(step, base.SkipChoice):
            sizes += [2] * step.num_anchors
    return sizes


def token_bounds(steps):
    """Exclusive upper bound of every token of an arc, in arc order."""
    return np.asarray(choice_sizes(steps))


def reference_walk(controller, steps, initial_anchors, arc, skip_target=0.4):
    """Independent numpy statement of the walk: returns (log_prob, entropy, skip_penalty)."""
    w = {v.path.split("/")[-1]: v.numpy() for v in controller.trainable_variables}
    temp, tanh_c = controller.temperature, controller.tanh_constant
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731

    def post(logits, scale=1.0):
        logits = logits / temp if temp else logits
        return tanh_c * scale * np.tanh(logits) if tanh_c else logits

    def categorical(logits, token):
        logp = logits - np.log(np.sum(np.exp(logits)))
        return logp[token], -np.sum(np.exp(logp) * logp)

    size = controller.hidden_size
    x, h, c = w["g_emb"][0], np.zeros(size), np.zeros(size)
    anchors, keys = [np.zeros(size)] * initial_anchors, [np.zeros(size)] * initial_anchors
    pos, log_prob, entropy, kls = 0, 0.0, 0.0, []
    for step in steps:
        i, f, o, g = np.split(np.concatenate([x, h]) @ w["w_lstm"], 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        tokens = arc[pos : pos + step.num_tokens]
        pos += step.num_tokens
        if isinstance(step, base.AnchorStep):
            if step.reset_anchors:
                anchors, keys = [], []
            anchors.append(np.zeros(size) if step.zero_anchor else h)
            keys.append(h @ w["w_attn_1"])
            x = w["g_emb"][0] if step.reset_input else x
            continue
        scores = [
            np.tanh(keys[j] + h @ w["w_attn_2"]) @ w["v_attn"][:, 0]
            for j in range(getattr(step, "num_anchors", 0))
        ]
        if isinstance(step, base.OpChoice):
            logits = h @ w[f"w_soft_{step.vocab}"]
            if step.bias_init is not None:
                logits = logits + w[f"b_soft_{step.vocab}"]
            logits = post(logits, step.tanh_constant_scale)
            logits = logits + (np.asarray(step.fixed_bias) if step.fixed_bias else 0.0)
            lp, ent = categorical(logits, tokens[0])
            x = w[f"w_emb_{step.vocab}"][tokens[0]]
        elif isinstance(step, base.InputChoice):
            n, j = step.num_anchors, tokens[0]
            logits = post(np.asarray(scores))
            if step.recency_bias:
                logits = logits - (n - np.arange(n)) ** 2 / 6.0
            lp, ent = categorical(logits, j)
            x = anchors[j] / (0.1 + n - j) if step.distance_scaled_feedback else anchors[j]
        else:
            lp, ent, kl = 0.0, 0.0, 0.0
            for j, bit in enumerate(tokens):
                logits = post(np.asarray([-scores[j], scores[j]]))
                bit_lp, bit_ent = categorical(logits, bit)
                lp, ent = lp + bit_lp, ent + bit_ent
                q = sig(logits)
                kl += np.sum(q * np.log(q / np.asarray([1 - skip_target, skip_target])))
            kls.append(kl)
            x = sum(b * a for b, a in zip(tokens, anchors)) / (1.0 + np.sum(tokens))
        log_prob, entropy = log_prob + lp, entropy + ent
        if getattr(step, "register_anchor", False):
            anchors.append(h)
            keys.append(h @ w["w_attn_1"])
    return log_prob, entropy, (np.mean(kls) if kls else 0.0)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_arcs_have_static_length_and_valid_tokens(space):
    steps, initial = SPACES[space]
    controller = Controller(steps, initial, hidden_size=16, init_range=0.5, seed=1)
    arc, log_prob, entropy = controller.sample()
    assert arc.dtype == tf.int32 and arc.shape == (controller.arc_length,)
    assert controller.arc_length == base.arc_length(steps) and log_prob.shape == ()
    arcs = controller.sample_batch(300)[0].numpy()
    assert arcs.shape == (300, controller.arc_length)
    assert (arcs >= 0).all() and (arcs < token_bounds(steps)).all()
    # Every token position with a real choice takes more than one value over 300 draws.
    bounds = token_bounds(steps)
    assert all(len(set(column)) > 1 for column in arcs.T[bounds > 1])


@pytest.mark.parametrize("space", sorted(SPACES))
def test_uniform_policy_closed_form(space):
    """Zero weights: every decision is uniform, so H = Σ log Nᵢ and log π(any arc) = −Σ log Nᵢ."""
    steps, initial = SPACES[space]
    # Biases and the recency bias would break uniformity: drop them.
    steps = tuple(
        base.OpChoice(s.name, s.vocab, s.num_ops)
        if isinstance(s, base.OpChoice)
        else dataclasses.replace(s, recency_bias=False)
        if isinstance(s, base.InputChoice)
        else s
        for s in steps
    )
    controller = Controller(
        steps, initial, hidden_size=8, init_range=0.0, temperature=5.0, tanh_constant=2.5, seed=0
    )
    expected = sum(math.log(n) for n in choice_sizes(steps))
    arcs, log_probs, entropies, penalties = controller.sample_batch(20, True)
    np.testing.assert_allclose(entropies, expected, rtol=1e-5)
    np.testing.assert_allclose(log_probs, -expected, rtol=1e-5)
    rng = np.random.default_rng(0)
    random_arcs = rng.integers(0, token_bounds(steps), size=(5, len(token_bounds(steps))))
    np.testing.assert_allclose(controller.log_prob(random_arcs)[0], -expected, rtol=1e-5)
    # Skip KL of q = [.5, .5] against ρ = [.6, .4], summed over a layer's bits, averaged.
    bits = [s.num_anchors for s in steps if isinstance(s, base.SkipChoice)]
    kl_bit = 0.5 * math.log(0.5 / 0.6) + 0.5 * math.log(0.5 / 0.4)
    np.testing.assert_allclose(penalties, np.mean(bits) * kl_bit if bits else 0.0, atol=1e-6)


def test_bias_then_post_processing_then_fixed_bias():
    """ENAS §3.2 order: (h·W + b) / T, then C·scale·tanh, then the fixed bias."""
    bias, fixed, scale = (10.0, 10.0, 0.0, 0.0, 0.0), (0.25, 0.25, -0.25, -0.25, -0.25), 0.4
    steps = (
        base.OpChoice("op", "micro", 5, scale, bias, fixed),
        base.OpChoice("plain", "micro", 5),
    )
    controller = Controller(
        steps, hidden_size=4, temperature=5.0, tanh_constant=1.1, init_range=0.0
    )
    assert controller.b_soft_micro.trainable
    np.testing.assert_allclose(controller.b_soft_micro.numpy(), bias)
    logits = 1.1 * scale * np.tanh(np.asarray(bias) / 5.0) + np.asarray(fixed)
    expected = logits - np.log(np.sum(np.exp(logits)))
    arcs = np.asarray([[t, 0] for t in range(5)])
    # The second choice shares the vocab's weights but has no bias of its own: uniform.
    np.testing.assert_allclose(controller.log_prob(arcs)[0], expected - math.log(5), rtol=1e-5)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_log_prob_of_sampled_arc_matches_sample(space):
    steps, initial = SPACES[space]
    controller = Controller(
        steps, initial, hidden_size=16, init_range=0.5, temperature=1.5, tanh_constant=2.0, seed=2
    )
    arcs, log_probs, entropies, penalties = controller.sample_batch(16, True)
    scored = controller.log_prob(arcs, return_skip_penalty=True)
    for got, want in zip(scored, (log_probs, entropies, penalties)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    arc, log_prob, entropy = controller.sample()
    np.testing.assert_allclose(controller.log_prob(arc), (log_prob, entropy), rtol=1e-5)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_matches_numpy_reference_walk(space):
    steps, initial = SPACES[space]
    controller = Controller(
        steps,
        initial,
        hidden_size=6,
        init_range=0.6,
        temperature=1.5,
        tanh_constant=2.0,
        seed=3,
        skip_target=0.3,
    )
    arcs = controller.sample_batch(4)[0].numpy()
    got = controller.log_prob(arcs, return_skip_penalty=True)
    for b, arc in enumerate(arcs):
        want = reference_walk(controller, steps, initial, arc, skip_target=0.3)
        np.testing.assert_allclose([g[b] for g in got], want, rtol=1e-4, atol=1e-5)


def test_weights_shapes_and_init_range():
    controller = Controller(MIXED, 1, hidden_size=5, init_range=0.05, seed=0)
    shapes = {v.path.split("/")[-1]: tuple(v.shape) for v in controller.trainable_variables}
    assert shapes == {
        "w_lstm": (10, 20),
        "g_emb": (1, 5),
        "w_emb_a": (3, 5),
        "w_soft_a": (5, 3),
        "b_soft_a": (3,),
        "w_attn_1": (5, 5),
        "w_attn_2": (5, 5),
        "v_attn": (5, 1),
    }
    for v in controller.trainable_variables:
        if "b_soft" not in v.path:
            assert np.abs(v.numpy()).max() <= 0.05 and np.abs(v.numpy()).max() > 0
    state = [v for v in controller.variables if v is controller.sampler_state]
    assert len(state) == 1 and not controller.sampler_state.trainable


def test_same_seed_same_arcs_different_seed_different_arcs():
    def draws(seed):
        controller = Controller(rnn_steps(), 1, hidden_size=8, seed=seed)
        return np.stack(
            [controller.sample()[0].numpy() for _ in range(3)]
            + list(controller.sample_batch(20)[0].numpy())
        )

    np.testing.assert_array_equal(draws(7), draws(7))
    assert not np.array_equal(draws(7), draws(8))


def test_recency_bias_distribution():
    """Zero weights: input choice j among n is drawn with softmax(−(n − j)² / 6)."""
    controller = Controller(
        (base.InputChoice("in", 5, recency_bias=True),),
        initial_anchors=5,
        hidden_size=4,
        init_range=0.0,
        seed=0,
    )
    logits = -((5 - np.arange(5)) ** 2) / 6.0
    probs = np.exp(logits) / np.exp(logits).sum()
    arcs = controller.sample_batch(4000)[0].numpy()[:, 0]
    np.testing.assert_allclose(np.bincount(arcs, minlength=5) / 4000, probs, atol=0.025)
    np.testing.assert_allclose(
        controller.log_prob(np.arange(5)[:, None])[0], np.log(probs), rtol=1e-5
    )


def test_sample_under_tf_function_traces_once():
    controller = Controller(macro_steps(), hidden_size=8, init_range=0.5, seed=0)
    sample = tf.function(controller.sample)
    arcs = {tuple(sample()[0].numpy()) for _ in range(60)}
    assert sample.experimental_get_tracing_count() == 1
    assert len(arcs) > 40
    assert sample.get_concrete_function().structured_outputs[0].shape == (controller.arc_length,)


def test_weight_file_and_checkpoint_restore_weights_and_sampler(tmp_path):
    controller = Controller(rnn_steps(), 1, hidden_size=8, seed=3)
    controller.sample()  # advance the sampler
    controller.save_weights(str(tmp_path / "c.weights.h5"))
    path = tf.train.Checkpoint(controller=controller).write(str(tmp_path / "ckpt"))
    expected = controller.sample_batch(10)[0].numpy()
    restored = Controller(rnn_steps(), 1, hidden_size=8, seed=99)
    restored.load_weights(str(tmp_path / "c.weights.h5"))
    np.testing.assert_array_equal(restored.sample_batch(10)[0], expected)
    restored = Controller(rnn_steps(), 1, hidden_size=8, seed=98)
    tf.train.Checkpoint(controller=restored).read(path).assert_consumed()
    np.testing.assert_array_equal(restored.sample_batch(10)[0], expected)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(hidden_size=0),
            ValueError,
            r"`hidden_size` must be an int >= 1. Received: "
            r"hidden_size=0",
        ),
        (
            dict(temperature=0.0),
            ValueError,
            r"`temperature` must be None or > 0. Received: "
            r"temperature=0.0",
        ),
        (dict(temperature=-1.0), ValueError, r"`temperature` must be None or > 0"),
        (dict(tanh_constant=0.0), ValueError, r"`tanh_constant` must be None or > 0"),
        (
            dict(init_range=-0.1),
            ValueError,
            r"`init_range` must be >= 0. Received: "
            r"init_range=-0.1",
        ),
        (dict(skip_target=1.0), ValueError, r"`skip_target` must be in \(0, 1\)"),
        (dict(initial_anchors=-1), ValueError, r"`initial_anchors` must be an int >= 0"),
        (
            dict(initial_anchors=0),
            ValueError,
            r"Step 0 \(node1_input\) attends over 1 anchors "
            r"but only 0 exist",
        ),
        (dict(steps=(base.AnchorStep("a"),)), ValueError, r"at least one sampling step"),
        (dict(steps=("op",)), TypeError, r"Unknown schema step at position 0"),
        (
            dict(steps=(base.OpChoice("a", "v", 3), base.OpChoice("b", "v", 4))),
            ValueError,
            r"vocab 'v' must agree on `num_ops`. Received: 3 and 4 \(b\)",
        ),
        (
            dict(steps=(base.OpChoice("a", "v", 3, bias_init=(1.0,)),)),
            ValueError,
            r"`bias_init` must have num_ops=3 entries",
        ),
        (
            dict(steps=(base.OpChoice("a", "v", 2, fixed_bias=(1.0, 2.0, 3.0)),)),
            ValueError,
            r"`fixed_bias` must have num_ops=2 entries",
        ),
        (
            dict(
                steps=(
                    base.OpChoice("a", "v", 2, bias_init=(1.0, 0.0)),
                    base.OpChoice("b", "v", 2, bias_init=(0.0, 1.0)),
                )
            ),
            ValueError,
            r"vocab 'v' must share one `bias_init`",
        ),
    ],
)
def test_constructor_errors(kwargs, error, match):
    args = dict(steps=rnn_steps(), initial_anchors=1) | kwargs
    with pytest.raises(error, match=match):
        Controller(**args)


def test_call_errors():
    controller = Controller(rnn_steps(2), 1, hidden_size=4)
    with pytest.raises(
        ValueError,
        match=r"`arc` must have shape \[4\] or \[batch, 4\]. "
        r"Received: arc.shape=\(3,\)",
    ):
        controller.log_prob([0, 1, 0])
    with pytest.raises(ValueError, match=r"`arc` must have shape"):
        controller.log_prob(np.zeros((1, 1, 4), "int32"))
    with pytest.raises(
        ValueError,
        match=r"`batch_size` must be an int >= 1. Received: "
        r"batch_size=0",
    ):
        controller.sample_batch(0)


def test_sample_order_returns_arcs_in_the_stored_order():
    from keras_enas.search_spaces import micro

    space = micro.MicroSpace(num_nodes=2)
    controller = Controller(
        space.steps, space.initial_anchors, hidden_size=8, seed=1, sample_order=space.sample_order
    )
    for _ in range(20):
        arc, log_prob, _ = controller.sample()
        arc = arc.numpy()
        space.validate(arc)  # stored order: [x_id, x_op, y_id, y_op] per node
        np.testing.assert_allclose(float(controller.log_prob(arc)[0]), float(log_prob), rtol=1e-5)


def test_sample_order_must_be_a_permutation():
    steps = (base.OpChoice("a", "ops", 2), base.OpChoice("b", "ops", 2))
    with pytest.raises(ValueError, match=r"`sample_order` must be a permutation of range\(2\)"):
        Controller(steps, hidden_size=4, sample_order=[0, 0])
