"""Tests for keras_enas.search_spaces.space: the SearchSpace codec base class."""

import numpy as np
import pytest

from keras_enas.search_spaces import base, space

STEPS = (
    base.AnchorStep("node0"),
    base.OpChoice("node0_op", "toy", 3),
    base.SkipChoice("node1_skips", num_anchors=1),
)


def test_token_specs_follow_sample_order():
    toy = space.SearchSpace(STEPS, sample_order=[1, 0])
    assert toy.token_names == ("node 1 skips bit 0", "node 0 op")
    np.testing.assert_array_equal(toy.num_choices, [2, 3])
    np.testing.assert_array_equal(toy.validate([1, 2]), [1, 2])
    with pytest.raises(
        ValueError,
        match=r"Invalid SearchSpace arc: token 0 \(node 1 skips bit 0\) "
        r"is 2; expected an integer in \[0, 1\]\.",
    ):
        toy.validate([2, 1])


def test_bad_sample_order_and_steps():
    with pytest.raises(
        ValueError,
        match=r"`sample_order` must be a permutation of "
        r"range\(2\)\. Received: sample_order=\[0, 0\]",
    ):
        space.SearchSpace(STEPS, sample_order=[0, 0])
    with pytest.raises(ValueError, match=r"attends over 1 anchors but only 0 exist"):
        space.SearchSpace(STEPS[1:])


def test_numpy_tokens_and_abstract_methods():
    toy = space.SearchSpace(STEPS)
    assert toy.parse(np.array([2, 1], np.int64)).dtype == np.int32
    assert toy.format_arc((2, 0)) == "2 0"
    with pytest.raises(NotImplementedError):
        toy.decode([0, 0])
    with pytest.raises(NotImplementedError):
        toy.encode(None)
