"""Tests for keras_enas.layers.cell_blocks: batch-stat BN, factorized reduction, calibration."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.layers import cell_blocks


def test_batch_stat_norm_uses_the_minibatch_statistics():
    x = tf.random.normal((5, 3, 3, 2), mean=4.0, stddev=3.0, seed=0)
    norm = cell_blocks.BatchStatNorm(epsilon=1e-3)
    norm.build(x.shape)
    norm.gamma.assign([2.0, 0.5])
    norm.beta.assign([1.0, -1.0])
    mean, var = tf.nn.moments(x, axes=[0, 1, 2])
    expected = (x - mean) / tf.sqrt(var + 1e-3) * [2.0, 0.5] + [1.0, -1.0]
    np.testing.assert_allclose(norm(x).numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    assert not norm.non_trainable_weights  # no moving averages
    assert isinstance(cell_blocks.make_norm(False), keras.layers.BatchNormalization)


@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduction_sees_even_then_odd_pixels(size):
    x = tf.reshape(tf.range(size * size, dtype=tf.float32), (1, size, size, 1))
    fr = cell_blocks.FactorizedReduction(2, batch_stats=True)
    fr.build(x.shape)
    fr.conv1.kernel.assign(tf.ones((1, 1, 1, 1)))  # each path copies its pixels
    fr.conv2.kernel.assign(tf.ones((1, 1, 1, 1)))
    out = fr(x).numpy()[0]
    half = (size + 1) // 2
    assert out.shape == (half, half, 2)
    grid = x.numpy()[0, :, :, 0]
    shifted = np.pad(grid, ((0, 1), (0, 1)))[1:, 1:]  # pad bottom/right, crop top/left
    for channel, pixels in enumerate((grid[::2, ::2], shifted[::2, ::2])):
        expected = (pixels - pixels.mean()) / np.sqrt(pixels.var() + cell_blocks.BN_EPSILON)
        np.testing.assert_allclose(out[:, :, channel], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "shapes,expected",
    [
        (((8, 8, 12), (8, 8, 12)), ("ReLUConvBN", "ReLUConvBN")),  # stem: 3F -> F
        (((8, 8, 4), (8, 8, 4)), (None, None)),  # already calibrated
        (((8, 8, 20), (4, 4, 4)), ("FactorizedReduction", None)),  # after a reduction cell
    ],
)
def test_calibration_follows_the_input_shapes(shapes, expected):
    layer = cell_blocks.CalibrateInputs(4)
    inputs = [tf.random.normal((2, *s)) for s in shapes]
    x, y = layer(inputs)
    assert x.shape == y.shape == (2, *shapes[1][:2], 4)
    names = tuple(
        None if sub is None else type(sub).__name__
        for sub in (layer.calibrate_x, layer.calibrate_y)
    )
    assert names == expected


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="positive even"):
        cell_blocks.FactorizedReduction(5)
    with pytest.raises(TypeError, match="filters"):
        cell_blocks.ReLUConvBN("4")
    with pytest.raises(ValueError, match="twice as large"):
        cell_blocks.CalibrateInputs(4)([tf.zeros((1, 8, 8, 4)), tf.zeros((1, 2, 2, 4))])


def test_sum_of_squares_and_its_gradient():
    rng = np.random.default_rng(0)
    weights = [tf.Variable(rng.normal(size=shape).astype(np.float32)) for shape in [(3, 4), (5,)]]
    with tf.GradientTape() as tape:
        total = cell_blocks.sum_of_squares(weights)
    expected = sum(np.sum(w.numpy() ** 2) for w in weights)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    for w, g in zip(weights, tape.gradient(total, weights)):
        np.testing.assert_allclose(g.numpy(), 2 * w.numpy(), rtol=1e-6)
