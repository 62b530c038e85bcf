"""Cosine annealing with warm restarts (SGDR), set once per epoch as the original does."""

import math

import keras

__all__ = ["cosine_restarts", "CosineRestarts"]


def _check(lr_max, lr_min, t0, t_mul):
    if not 0 <= lr_min <= lr_max:
        raise ValueError(
            f"`lr_min` must be in [0, lr_max]. Received: lr_min={lr_min}, lr_max={lr_max}"
        )
    for name, value in (("t0", t0), ("t_mul", t_mul)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}")


def cosine_restarts(epoch, lr_max=0.05, lr_min=5e-4, t0=10, t_mul=2):
    """The learning rate of 0-based `epoch` (reference §4.1, `src/utils.py`).

    `lr = lr_min + ½(lr_max − lr_min)(1 + cos(π·T_cur/T_i))` with integer epochs:
    the rate is constant within an epoch. Cycle i lasts `T_i = t0·t_mul^i` epochs,
    so with t0 = 10, t_mul = 2 the restarts (back to `lr_max`) fall at epochs 10,
    30, 70, 150, 310 and 630.

    Args:
        epoch: 0-based epoch (>= 0).
        lr_max, lr_min: rate at the start and towards the end of each cycle.
        t0: length of the first cycle in epochs.
        t_mul: growth factor of the cycle length.

    Returns:
        The learning rate, a float.

    Raises:
        ValueError: if `epoch < 0`, `lr_min` is not in [0, lr_max] or `t0`, `t_mul`
            are not ints >= 1.

    Example:
    >>> cosine_restarts(10, lr_max=0.05, lr_min=0.001)   # a restart
    0.05
    """
    _check(lr_max, lr_min, t0, t_mul)
    if epoch < 0:
        raise ValueError(f"`epoch` must be >= 0. Received: epoch={epoch}")
    last_reset, t_i = 0, t0
    while epoch - last_reset >= t_i:
        last_reset, t_i = last_reset + t_i, t_i * t_mul
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * (epoch - last_reset) / t_i))


class CosineRestarts(keras.callbacks.Callback):
    """Sets the optimizer's learning rate to `cosine_restarts(epoch)` before every epoch.

    The rate of the epoch is added to its logs as `lr`.

    Args:
        lr_max, lr_min, t0, t_mul: as in `cosine_restarts`.
    """

    def __init__(self, lr_max=0.05, lr_min=5e-4, t0=10, t_mul=2):
        super().__init__()
        _check(lr_max, lr_min, t0, t_mul)
        self.lr_max, self.lr_min, self.t0, self.t_mul = lr_max, lr_min, t0, t_mul

    def on_epoch_begin(self, epoch, logs=None):
        lr = cosine_restarts(epoch, self.lr_max, self.lr_min, self.t0, self.t_mul)
        self.model.optimizer.learning_rate.assign(lr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate.numpy())
