"""Tests for keras_enas.layers.drop_path: the schedule, the statistics, inference, the callback."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.layers.drop_path import (
    DropPathSchedule,
    ScheduledDropPath,
    drop_path_layers,
    set_drop_path_progress,
)


@pytest.mark.parametrize("layer_id,progress", [(16, 0.5), (16, 1.0), (5, 1.0)])
def test_keeps_the_scheduled_fraction_of_examples(layer_id, progress):
    layer = ScheduledDropPath(0.6, layer_id=layer_id, num_cells=17, seed=0)
    layer.progress.assign(progress)
    layer_keep = 1 - (layer_id + 1) / 17 * 0.4  # micro_child._apply_drop_path
    keep = 1 - progress * (1 - layer_keep)
    assert float(layer.keep_prob()) == pytest.approx(keep, rel=1e-6)
    n = 20000
    x = tf.ones((n, 2, 2, 3))
    y = layer(x, training=True).numpy()
    per_example = y.reshape(n, -1)
    assert np.all(per_example == per_example[:, :1])  # one draw per example
    kept_values = per_example[per_example > 0]
    np.testing.assert_allclose(kept_values, 1 / keep, rtol=1e-5)  # scaled by 1 / keep
    kept = np.mean(per_example[:, 0] > 0)
    assert abs(kept - keep) < 4 * np.sqrt(keep * (1 - keep) / n)
    assert abs(per_example.mean() - 1.0) < 0.03  # unbiased in expectation


def test_identity_at_inference_and_before_training():
    layer = ScheduledDropPath(0.6, layer_id=3, num_cells=4, seed=1)
    x = tf.random.normal((64, 4, 4, 2))
    layer.progress.assign(1.0)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    layer.progress.assign(0.0)  # p_keep = 1 at step 0: nothing dropped
    np.testing.assert_array_equal(layer(x, training=True).numpy(), x.numpy())


def test_schedule_callback_follows_the_optimizer_step():
    inputs = keras.Input((4,))
    x = ScheduledDropPath(0.6, layer_id=0, num_cells=1, seed=0, name="dp")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer="sgd", loss="mse")
    data = np.ones((8, 4), np.float32), np.ones((8, 1), np.float32)
    model.fit(*data, batch_size=2, epochs=1, verbose=0, callbacks=[DropPathSchedule(10)])
    layer = drop_path_layers(model)[0]
    assert float(layer.progress) == pytest.approx(4 / 10)  # before step 3: (3 + 1) / 10
    set_drop_path_progress(model, 0.25)
    assert float(layer.progress) == 0.25
    model.fit(*data, batch_size=1, epochs=1, verbose=0, callbacks=[DropPathSchedule(10)])
    assert float(layer.progress) == 1.0  # capped
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append(float(layer.progress))
    )
    model.optimizer.iterations.assign(0)
    model.fit(*data, batch_size=2, epochs=2, verbose=0, callbacks=[DropPathSchedule(), record])
    np.testing.assert_allclose(seen, np.arange(1, 9) / 8)  # total = 2 epochs x 4 steps


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="drop_path_keep_prob"):
        ScheduledDropPath(0.0, 0, 2)
    with pytest.raises(ValueError, match="layer_id"):
        ScheduledDropPath(0.6, 2, 2)
    with pytest.raises(ValueError, match="total_steps"):
        DropPathSchedule(0)
