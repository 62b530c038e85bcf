"""Tests of the cosine schedule with warm restarts (reference §4.1) and its callback."""

import math

import keras
import numpy as np
import pytest

from keras_enas.tasks.cifar.schedules import CosineRestarts, cosine_restarts


def _rates(num_epochs, **kwargs):
    return np.array([cosine_restarts(e, **kwargs) for e in range(num_epochs)])


def test_restarts_fall_at_10_30_70_150_310():
    rates = _rates(640, lr_max=0.05, lr_min=1e-3, t0=10, t_mul=2)
    restarts = [e for e in range(1, 640) if rates[e] > rates[e - 1]]
    assert restarts == [10, 30, 70, 150, 310, 630]
    assert all(rates[e] == pytest.approx(0.05) for e in [0] + restarts)


def test_values_follow_the_cosine_within_a_cycle():
    kwargs = dict(lr_max=0.05, lr_min=5e-4, t0=10, t_mul=2)
    assert cosine_restarts(5, **kwargs) == pytest.approx((0.05 + 5e-4) / 2)  # half of T_0
    assert cosine_restarts(20, **kwargs) == pytest.approx((0.05 + 5e-4) / 2)  # half of T_1
    expected = 5e-4 + 0.5 * (0.05 - 5e-4) * (1 + math.cos(math.pi * 9 / 10))
    assert cosine_restarts(9, **kwargs) == pytest.approx(expected)
    assert cosine_restarts(309, **kwargs) == pytest.approx(
        5e-4 + 0.5 * (0.05 - 5e-4) * (1 + math.cos(math.pi * 159 / 160))
    )
    cycle = _rates(30, **kwargs)[10:30]
    assert np.all(np.diff(cycle) < 0) and cycle.min() > 5e-4


def test_constant_length_cycles_with_t_mul_1():
    rates = _rates(25, lr_max=1.0, lr_min=0.0, t0=5, t_mul=1)
    assert [e for e in range(1, 25) if rates[e] > rates[e - 1]] == [5, 10, 15, 20]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epoch=-1), r"`epoch` must be >= 0. Received: epoch=-1"),
        (dict(epoch=0, lr_min=0.1, lr_max=0.05), r"`lr_min` must be in \[0, lr_max\]"),
        (dict(epoch=0, t0=0), r"`t0` must be an int >= 1. Received: t0=0"),
        (dict(epoch=0, t_mul=1.5), r"`t_mul` must be an int >= 1. Received: t_mul=1.5"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cosine_restarts(**kwargs)


def test_callback_sets_the_rate_of_every_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    history = model.fit(
        np.zeros((4, 2)),
        np.zeros((4, 1)),
        epochs=12,
        verbose=0,
        callbacks=[CosineRestarts(0.05, 1e-3, t0=10, t_mul=2)],
    )
    expected = _rates(12, lr_max=0.05, lr_min=1e-3, t0=10, t_mul=2)
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"`t0` must be an int >= 1"):
        CosineRestarts(t0=0)
