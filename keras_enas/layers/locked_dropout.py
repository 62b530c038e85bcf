"""Locked (variational) dropout masks: one mask per sequence, reused at every time step."""

import keras
import tensorflow as tf

__all__ = ["apply_mask", "dropout_mask"]


def dropout_mask(shape, rate, seed, dtype="float32"):
    """A dropout mask `m ∈ {0, 1/(1−rate)}` of `shape`, or None when `rate == 0`.

    Multiplying a `(B, T, H)` tensor by a `(B, 1, H)` mask drops the same units at
    every time step: locked / variational dropout (Gal & Ghahramani 2016; enas_lm
    §4.2). A `(V,)` mask gathered at the token ids drops whole word types
    (embedding dropout, enas_lm `drop_e`).

    Args:
        shape: static mask shape, e.g. `(B, 1, H)`, `(B, H)` or `(V,)`.
        rate: probability of dropping a unit, in `[0, 1)`.
        seed: a `keras.random.SeedGenerator` (or int seed).
        dtype: mask dtype.

    Returns:
        A tensor of `shape`, or None if `rate == 0` (nothing to multiply).

    Raises:
        ValueError: if `rate` is not in `[0, 1)`.

    Example:
    >>> mask = dropout_mask((2, 1, 4), 0.5, keras.random.SeedGenerator(0))
    >>> sorted(set(mask.numpy().ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate}")
    if rate == 0.0:
        return None
    return keras.random.dropout(tf.ones(shape, dtype), rate, seed=seed)


def apply_mask(x, mask):
    """`x * mask`; a None operand stands for ones (so two None masks give None)."""
    if mask is None or x is None:
        return mask if x is None else x
    return x * mask
