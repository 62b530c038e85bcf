"""Rewards and validation minibatches of a user search (`keras_enas.ENAS`)."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas import distribute

__all__ = ["fixed_batch", "random_batch", "reward_function", "to_tensors", "train_metrics"]


def _accuracy_for(loss):
    """The accuracy metric matching a loss, by name (as `compile(metrics=["accuracy"])`)."""
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
    name = name.lower()
    if "sparse" in name:
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    if "categorical" in name:
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    if "binary" in name:
        return keras.metrics.BinaryAccuracy(name="accuracy")
    raise ValueError(
        f"Cannot infer the accuracy for loss={loss!r}: pass `reward=` (a Keras "
        "metric or a callable `(y_true, y_pred) -> scalar`, higher is better)."
    )


def _metric(value, loss):
    if value in ("accuracy", "acc"):
        return _accuracy_for(loss)
    metric = keras.metrics.get(value)
    if isinstance(metric, type):
        metric = metric()
    return metric


def reward_function(reward, loss):
    """`(y_true, y_pred) -> scalar reward` from `ENAS(reward=...)`.

    Args:
        reward: None (accuracy matching `loss`), a metric name or `keras.metrics.Metric`,
            or a callable `(y_true, y_pred) -> scalar`.
        loss: the search's loss (to choose the accuracy).

    Raises:
        ValueError: if no accuracy matches `loss` and no reward is given.
    """
    if reward is None:
        reward = _accuracy_for(loss)
    elif isinstance(reward, str):
        reward = _metric(reward, loss)
    if isinstance(reward, keras.metrics.Metric):
        metric = reward

        def score(y_true, y_pred):
            metric.reset_state()
            metric.update_state(y_true, y_pred)
            return metric.result()

        return score
    if not callable(reward):
        raise TypeError(f"`reward` must be None, a metric or a callable. Received: {reward!r}")
    return lambda y_true, y_pred: tf.reduce_mean(reward(y_true, y_pred))


def train_metrics(metrics, loss):
    """Metric instances for `ENAS(metrics=...)` (strings resolved like `compile`)."""
    out = []
    for value in metrics or []:
        metric = _metric(value, loss) if not isinstance(value, keras.metrics.Metric) else value
        if not isinstance(metric, keras.metrics.Metric):
            raise TypeError(f"Each metric must be a Keras Metric or its name. Received: {value!r}")
        out.append(metric)
    return out


def to_tensors(data):
    """`(x, y)` eager tensors of all validation examples, from arrays or a `tf.data.Dataset`.

    Raises:
        ValueError: if `data` is neither `(x, y)` nor a dataset of `(x, y[, w])`.
    """
    if isinstance(data, tf.data.Dataset):
        parts = [(batch[0], batch[1]) for batch in data]
        if not parts:
            raise ValueError("`validation_data` is an empty dataset.")
        x = tf.nest.map_structure(lambda *t: tf.concat(t, 0), *[p[0] for p in parts])
        y = tf.concat([p[1] for p in parts], 0)
        return x, y
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return (tf.nest.map_structure(tf.convert_to_tensor, data[0]), tf.convert_to_tensor(data[1]))
    raise ValueError(
        "`validation_data` must be `(x, y)` or a tf.data.Dataset of (x, y) "
        f"batches. Received: {type(data).__name__}"
    )


def _count(data):
    return int(tf.nest.flatten(data[0])[0].shape[0])


def random_batch(data, batch_size, seed_generator):
    """A random minibatch (without replacement) of `data`, drawn in-graph.

    Under a strategy, replica r takes the r-th minibatch of the same shuffle (its own).
    """
    count = _count(data)
    order = keras.random.shuffle(tf.range(count), seed=seed_generator)
    size = min(batch_size, count)
    index = tf.roll(order, -distribute.replica_id() * size, 0)[:size]
    return tf.nest.map_structure(lambda t: tf.gather(t, index), data)


def fixed_batch(data, batch_size, seed):
    """The same minibatch for every call with `seed` (scoring arcs side by side)."""
    count = _count(data)
    index = np.random.default_rng(seed).permutation(count)[: min(batch_size, count)]
    return tf.nest.map_structure(lambda t: tf.gather(t, index), data)
