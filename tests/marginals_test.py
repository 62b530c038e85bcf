"""Tests for controller marginals: exact conditionals, the estimate, heat-map groups, TB logs."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from keras_enas import marginals as marginals_lib
from keras_enas import marginals_plot
from keras_enas.controller import Controller
from keras_enas.search_spaces import macro, micro, rnn


def make(space, **kwargs):
    return Controller(
        space.steps,
        initial_anchors=space.initial_anchors,
        sample_order=space.sample_order,
        hidden_size=16,
        seed=3,
        **kwargs,
    )


@pytest.mark.parametrize(
    "space",
    [rnn.RNNCellSpace(4), macro.MacroSpace(4), micro.MicroSpace(2)],
    ids=["rnn", "macro", "micro"],
)
def test_decision_probs_match_log_prob_and_entropy(space):
    controller = make(space, tanh_constant=1.5)
    arcs, probs = controller.decision_probs(5)
    assert arcs.shape == (5, space.arc_length)
    assert [p.shape[1] for p in probs] == list(space.num_choices)
    for p in probs:
        np.testing.assert_allclose(np.sum(p, axis=1), 1.0, rtol=1e-5)
    # The conditionals along the sampled arcs give back log π(arc) and the entropy.
    log_prob, entropy = controller.log_prob(arcs)
    chosen = np.stack(
        [np.asarray(p)[np.arange(5), np.asarray(arcs)[:, i]] for i, p in enumerate(probs)], axis=1
    )
    np.testing.assert_allclose(np.log(chosen).sum(axis=1), log_prob, rtol=1e-4, atol=1e-4)
    h = sum(-np.sum(np.asarray(p) * np.log(np.asarray(p)), axis=1) for p in probs)
    np.testing.assert_allclose(h, entropy, rtol=1e-4)
    # Teacher forcing the same arcs gives the same conditionals.
    _, forced = controller.decision_probs(arc=arcs)
    for a, b in zip(probs, forced):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_uniform_controller_has_uniform_marginals():
    space = macro.MacroSpace(4)
    controller = make(space)
    controller.set_weights([np.zeros_like(w) for w in controller.get_weights()])
    result = marginals_lib.controller_marginals(controller, num_samples=8)
    for p, k in zip(result.probs, space.num_choices):
        np.testing.assert_allclose(p, np.full(k, 1.0 / k), rtol=1e-6)
    assert result.entropy() == pytest.approx(4 * math.log(6) + 6 * math.log(2), rel=1e-5)
    assert result.names == space.token_names


def test_marginal_estimate_matches_token_counts():
    # The mean of the conditionals estimates the same marginal as counting sampled tokens.
    space = rnn.RNNCellSpace(4)
    controller = make(space, tanh_constant=2.5)
    controller.set_weights([w * 20 for w in controller.get_weights()])  # far from uniform
    estimate = marginals_lib.controller_marginals(controller, num_samples=4000)
    arcs, _, _ = controller.sample_batch(4000)
    for i, p in enumerate(estimate.probs):
        counts = np.bincount(np.asarray(arcs)[:, i], minlength=len(p)) / 4000
        np.testing.assert_allclose(counts, p, atol=0.035)
    assert max(np.max(p) for p in estimate.probs) > 0.5  # the test is not on a uniform policy


def test_marginals_do_not_advance_the_sampler():
    controller = make(rnn.RNNCellSpace(3))
    state = controller.sampler_state.numpy().copy()
    marginals_lib.controller_marginals(controller, num_samples=4)
    np.testing.assert_array_equal(controller.sampler_state.numpy(), state)


def test_bad_arguments_raise():
    controller = make(rnn.RNNCellSpace(3))
    with pytest.raises(ValueError, match="num_samples"):
        marginals_lib.controller_marginals(controller, num_samples=0)
    with pytest.raises(TypeError, match="Controller"):
        marginals_lib.controller_marginals(object(), num_samples=2)
    with pytest.raises(ValueError, match="batch_size"):
        controller.decision_probs(0)
    with pytest.raises(ValueError, match="arc.shape"):
        controller.decision_probs(arc=np.zeros((1, 2), np.int32))


def test_heatmap_groups_and_json():
    space = micro.MicroSpace(2)
    controller = make(space)
    result = marginals_lib.controller_marginals(controller, num_samples=4)
    groups = marginals_lib.heatmap_groups(space.steps, result, space.sample_order)
    assert sorted(groups) == ["inputs", "ops micro_op"]
    names, matrix = groups["inputs"]
    assert matrix.shape == (8, 3)  # 2 cells x 2 nodes x (x, y); up to 3 anchors
    assert np.isnan(matrix[0, 2]) and names[0] == "normal_node2_x"
    row = space.token_names.index("normal node 2 x")
    np.testing.assert_allclose(matrix[0, :2], result.probs[row])
    record = json.loads(json.dumps(result.to_dict()))
    assert record["num_samples"] == 4 and len(record["probs"]) == space.arc_length
    skips = marginals_lib.heatmap_groups(
        macro.MacroSpace(4).steps, marginals_lib.controller_marginals(make(macro.MacroSpace(4)), 4)
    )["skips"][1]
    assert skips.shape == (3, 3) and np.isnan(skips[0, 1]) and np.isfinite(skips[2]).all()
    png = marginals_plot.figure_png(marginals_plot.heatmap_figure(names, matrix, "t"))
    assert tf.image.decode_png(png).shape[-1] == 4
