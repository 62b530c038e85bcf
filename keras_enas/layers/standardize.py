"""`Standardize`: raw pixels (0..255, uint8 or float) → the per-channel standardised input."""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["Standardize"]


class Standardize(keras.layers.Layer):
    """`(x / 255 − mean) / std` per channel, the CIFAR-10 preprocessing of reference §8.2.

    Bakes the training split's statistics into a model (the exported serving
    function, the reward images of a search), so callers pass raw pixels.

    Args:
        mean: 3 per-channel means of the training pixels scaled to [0, 1].
        std: 3 per-channel standard deviations (> 0), same scale.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        images: `(B, H, W, 3)` pixels in 0..255, any int or float dtype.

    Returns:
        float32 `(B, H, W, 3)`.

    Raises:
        ValueError: if `mean`/`std` are not 3 values with std > 0.

    Example:
    >>> Standardize([0.5] * 3, [0.25] * 3)(np.full((1, 2, 2, 3), 255, np.uint8))[0, 0, 0]
    <tf.Tensor: shape=(3,), dtype=float32, numpy=array([2., 2., 2.], dtype=float32)>
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if mean.shape != (3,) or std.shape != (3,) or not np.all(std > 0):
            raise ValueError(
                "`mean` and `std` must be 3 per-channel values with std > 0. "
                f"Received: mean={mean.tolist()}, std={std.tolist()}"
            )
        self.mean, self.std = mean, std

    def call(self, images):
        return (tf.cast(images, tf.float32) / 255.0 - self.mean) / self.std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean.tolist(), "std": self.std.tolist()}
