"""CIFAR-10 pipelines: validation split, standardisation, seeded augmentation, tf.data."""

import numpy as np
import tensorflow as tf

__all__ = [
    "augment_batch",
    "augment_params",
    "eval_dataset",
    "PAD",
    "SIZE",
    "split_validation",
    "standardize",
    "standardizer",
    "train_dataset",
]

SIZE = 32  # Images are SIZE x SIZE x 3.
PAD = 4  # ENAS §8.2: zero-pad 4 px on each side (40 x 40), then a random 32 x 32 crop.


def _check_int(name, value, lower, upper=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
    if value < lower or (upper is not None and value > upper):
        bounds = f">= {lower}" if upper is None else f"in [{lower}, {upper}]"
        raise ValueError(f"`{name}` must be {bounds}. Received: {name}={value}")


def _check_images(x, y=None, name="x"):
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        raise TypeError(
            f"`{name}` must be a uint8 numpy array of images. Received: "
            f"{type(x).__name__} with dtype={getattr(x, 'dtype', None)}"
        )
    if x.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError(
            f"`{name}` must have shape (N, 32, 32, 3). Received: {name}.shape={x.shape}"
        )
    if y is not None and np.shape(y) != (len(x),):
        raise ValueError(
            f"`y` must hold one label per image, shape ({len(x)},). Received: y.shape={np.shape(y)}"
        )


def split_validation(x, y, num_valid=None, *, valid_fraction=None):
    """Holds out the LAST training images as the validation split (enas-reference.md §8.2).

    The paper's search keeps the last 5,000 of the 50,000 training images for the
    controller's reward; `valid_fraction=0.1` gives the same ratio on any subset.

    Args:
        x: training images, an array of N images.
        y: their N labels.
        num_valid: number of images to hold out, in [0, N).
        valid_fraction: alternatively, the fraction in [0, 1) to hold out (rounded).

    Returns:
        `((x_train, y_train), (x_valid, y_valid))`, views of the inputs (no copy).

    Raises:
        TypeError, ValueError: unless exactly one of `num_valid`/`valid_fraction` is given
            and in range, and `y` has one label per image.

    Example:

    >>> (x_tr, y_tr), (x_va, y_va) = split_validation(x, y, valid_fraction=0.1)
    """
    n = len(x)
    if np.shape(y)[:1] != (n,):
        raise ValueError(
            f"`y` must hold one label per image ({n}). Received: y.shape={np.shape(y)}"
        )
    if (num_valid is None) == (valid_fraction is None):
        raise ValueError(
            "Pass exactly one of `num_valid` and `valid_fraction`. Received: "
            f"num_valid={num_valid}, valid_fraction={valid_fraction}"
        )
    if valid_fraction is not None:
        if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, (float, int)):
            raise TypeError(f"`valid_fraction` must be a float. Received: {valid_fraction!r}")
        if not 0 <= valid_fraction < 1:
            raise ValueError(
                f"`valid_fraction` must be in [0, 1). Received: valid_fraction={valid_fraction}"
            )
        num_valid = int(round(valid_fraction * n))
    _check_int("num_valid", num_valid, 0)
    if num_valid >= n:
        raise ValueError(
            f"`num_valid` must be smaller than the number of images ({n}). "
            f"Received: num_valid={num_valid}"
        )
    cut = n - num_valid
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def standardizer(x_train):
    """Per-channel mean and std of the training images scaled to [0, 1] (§8.2).

    Args:
        x_train: uint8 array `(N, 32, 32, 3)`; pass the training split only.

    Returns:
        `(mean, std)`, two float32 arrays of shape `(3,)` (population std), to pass to
        `standardize`, `train_dataset` and `eval_dataset` for every split.

    Raises:
        TypeError: if `x_train` is not a uint8 array.
        ValueError: if `x_train` is empty or not `(N, 32, 32, 3)`.
    """
    _check_images(x_train, name="x_train")
    if not len(x_train):
        raise ValueError("`x_train` must hold at least one image. Received: 0 images")
    # Exact statistics from per-channel histograms of the 256 pixel values.
    counts = np.stack([np.bincount(x_train[..., c].ravel(), minlength=256) for c in range(3)])
    values = np.arange(256, dtype=np.float64)
    mean = counts @ values / counts.sum(axis=1)
    variance = counts @ np.square(values) / counts.sum(axis=1) - np.square(mean)
    std = np.sqrt(np.maximum(variance, 0.0))  # Population std, as np.std.
    return (mean / 255).astype(np.float32), (std / 255).astype(np.float32)


def _check_stats(mean, std):
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if mean.shape != (3,) or std.shape != (3,) or not np.all(std > 0):
        raise ValueError(
            "`mean` and `std` must be 3 per-channel values with std > 0, as "
            f"`standardizer` returns. Received: mean={mean}, std={std}"
        )
    return mean, std


def standardize(images, mean, std):
    """Scales uint8 pixels to [0, 1], then standardises each channel: `(x/255 - mean)/std`."""
    return (tf.cast(images, tf.float32) / 255.0 - mean) / std


def augment_params(seed, batch_size):
    """The random draws of `augment_batch`, a pure function of the stateless `seed`.

    Args:
        seed: int32/int64 tensor of shape `(2,)`.
        batch_size: number of images B (an int or a scalar tensor).

    Returns:
        `(offsets, flips, corners)`: int32 `(B, 2)` crop offsets (row, column) in
        [0, 2 * PAD], bool `(B,)` horizontal flips, int32 `(B, 2)` cutout top-left corners
        in [0, 32). Each comes from its own sub-seed, so `cutout` changes none of the others.
    """
    crop_seed, flip_seed, cutout_seed = tf.unstack(tf.random.split(seed, 3))
    offsets = tf.random.stateless_uniform([batch_size, 2], crop_seed, 0, 2 * PAD + 1, tf.int32)
    flips = tf.random.stateless_uniform([batch_size], flip_seed, 0, 2, tf.int32) == 1
    corners = tf.random.stateless_uniform([batch_size, 2], cutout_seed, 0, SIZE, tf.int32)
    return offsets, flips, corners


def augment_batch(images, seed, cutout=0):
    """ENAS training augmentation of a standardised batch (§8.2, §4.1).

    Zero-pads 4 px, takes a random 32 x 32 crop, flips horizontally with probability 1/2,
    then, if `cutout` > 0, zeroes a `cutout` x `cutout` square whose top-left corner is
    uniform in [0, 32)^2, clipped at the border (the original `models.py`).

    Args:
        images: float32 `(B, 32, 32, 3)`, already standardised.
        seed: int32/int64 tensor of shape `(2,)`; the same seed gives the same output.
        cutout: side of the cutout square in pixels; 0 disables it.

    Returns:
        A float32 `(B, 32, 32, 3)` tensor.
    """
    offsets, flips, corners = augment_params(seed, tf.shape(images)[0])
    padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])  # (B, 40, 40, 3)
    steps = tf.range(SIZE)
    rows = offsets[:, :1] + steps  # (B, 32)
    cols = offsets[:, 1:] + tf.where(flips[:, None], SIZE - 1 - steps, steps)  # flip: reversed
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, 32, 40, 3)
    out = tf.gather(out, cols, axis=2, batch_dims=1)  # (B, 32, 32, 3)
    if cutout:

        def inside(start):  # (B, 1) -> (B, 32): is each row/column in the square?
            return (steps >= start) & (steps < start + cutout)

        square = inside(corners[:, :1])[:, :, None] & inside(corners[:, 1:])[:, None, :]
        out = tf.where(square[..., None], tf.zeros_like(out), out)
    return out


def train_dataset(x, y, batch_size, mean, std, seed, cutout=0, shuffle=True):
    """One epoch of augmented training minibatches per iteration, reproducible from `seed`.

    Determinism: each iteration (epoch) first draws one epoch key from
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`, so the e-th iteration
    of any dataset built with the same `seed` (and the same TF global seed, if one is set)
    gets the same key. Everything else is stateless: the epoch's order is
    `stateless_shuffle(range(N), seed=(key, 0))` and minibatch b is augmented by
    `augment_batch(..., seed=(key, b + 1))`.

    Args:
        x: uint8 images `(N, 32, 32, 3)`.
        y: N integer labels.
        batch_size: minibatch size; the last partial minibatch is dropped.
        mean, std: per-channel statistics from `standardizer(x_train)`.
        seed: int seed of the order and the augmentations.
        cutout: cutout square side in pixels (0 = off; DeVries & Taylor use 16).
        shuffle: if False, every epoch keeps the order of `x`.

    Returns:
        A dataset of `(images float32 (B, 32, 32, 3), labels int32 (B,))` with cardinality
        `N // batch_size`; iterate it once per epoch (it does not repeat).

    Raises:
        TypeError, ValueError: on malformed images, labels, statistics or arguments.

    Example:

    >>> mean, std = standardizer(x_train)
    >>> ds = train_dataset(x_train, y_train, 128, mean, std, seed=0, cutout=16)
    >>> for epoch in range(num_epochs):
    ...     for images, labels in ds:  # (128, 32, 32, 3) float32, (128,) int32
    ...         ...
    """
    _check_images(x, y)
    _check_int("batch_size", batch_size, 1, len(x))
    _check_int("seed", seed, 0)
    _check_int("cutout", cutout, 0, SIZE)
    mean, std = _check_stats(mean, std)
    images, labels = tf.constant(x), tf.constant(np.asarray(y, np.int32))
    num_batches = len(x) // batch_size

    def epoch(key):  # key: int64 scalar, one per iteration.
        order = tf.range(len(x))
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, tf.stack([key, 0]))
        index = tf.reshape(order[: num_batches * batch_size], [num_batches, batch_size])
        batch_ids = tf.range(1, num_batches + 1, dtype=tf.int64)

        def make_batch(idx, b):
            batch = standardize(tf.gather(images, idx), mean, std)
            return augment_batch(batch, tf.stack([key, b]), cutout), tf.gather(labels, idx)

        return tf.data.Dataset.from_tensor_slices((index, batch_ids)).map(
            make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    ds = keys.flat_map(epoch).apply(tf.data.experimental.assert_cardinality(num_batches))
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(x, y, batch_size, mean, std):
    """Standardised, unaugmented minibatches in file order, keeping the last partial one.

    Args:
        x: uint8 images `(N, 32, 32, 3)`.
        y: N integer labels.
        batch_size: minibatch size (ENAS evaluates with 100).
        mean, std: per-channel statistics from `standardizer(x_train)`.

    Returns:
        A dataset of `(images float32 (B, 32, 32, 3), labels int32 (B,))`.

    Raises:
        TypeError, ValueError: on malformed images, labels, statistics or arguments.
    """
    _check_images(x, y)
    _check_int("batch_size", batch_size, 1)
    mean, std = _check_stats(mean, std)
    ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y, np.int32))).batch(batch_size)
    ds = ds.map(
        lambda images, labels: (standardize(images, mean, std), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.prefetch(tf.data.AUTOTUNE)
