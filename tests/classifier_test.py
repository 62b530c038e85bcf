"""Tests of `ClassifierTrainer`: the objective, clipping that really clips, the test labels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enas.tasks.cifar.classifier import ClassifierTrainer, FinalTestLabels


def _network(aux=False):
    keras.utils.set_random_seed(0)
    images = keras.Input((4, 4, 3))
    x = keras.layers.Flatten()(images)
    logits = keras.layers.Dense(10, name="fc")(x)
    outputs = [logits, keras.layers.Dense(10, name="aux")(x)] if aux else logits
    return keras.Model(images, outputs)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return (
        tf.constant(rng.normal(size=(8, 4, 4, 3)) * 100, tf.float32),
        tf.constant(rng.integers(0, 10, size=8), tf.int32),
    )


def _weights(model):
    return [w.numpy().copy() for w in model.trainable_weights]


def _update_norm(before, model):
    return float(
        np.sqrt(sum(np.sum((a - w.numpy()) ** 2) for a, w in zip(before, model.trainable_weights)))
    )


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_gradient_clipping_really_clips(clip):
    network = _network()
    trainer = ClassifierTrainer(network, grad_clip=clip)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))  # update = -gradient
    images, labels = _data()
    with tf.GradientTape() as tape:
        _, objective, _ = trainer.objective(images, labels)
    raw = float(tf.linalg.global_norm(tape.gradient(objective, network.trainable_variables)))
    assert raw > 1.0  # large inputs: a large gradient
    before = _weights(network)
    trainer.train_on_batch(images, labels)
    expected = clip if clip else raw
    assert _update_norm(before, network) == pytest.approx(expected, rel=1e-3)


def test_objective_adds_l2_and_the_aux_loss():
    network = _network(aux=True)
    images, labels = _data()
    plain = ClassifierTrainer(network, l2=0.0, aux_weight=0.0)
    loss, objective, _ = plain.objective(images, labels)
    assert float(objective) == pytest.approx(float(loss))
    trainer = ClassifierTrainer(network, l2=1e-2, aux_weight=0.4)
    loss, objective, _ = trainer.objective(images, labels)
    squares = sum(float(tf.reduce_sum(w**2)) for w in network.trainable_weights)
    aux_logits = network(images)[1]
    aux = float(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, aux_logits)))
    assert float(objective) == pytest.approx(float(loss) + 0.4 * aux + 1e-2 * squares, rel=1e-5)


def test_fit_logs_final_train_and_final_test_figures():
    trainer = ClassifierTrainer(_network(), l2=1e-4)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True))
    data = tf.data.Dataset.from_tensors(_data())
    history = trainer.fit(
        data,
        validation_data=data,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[FinalTestLabels()],
    )
    assert {
        "final_train_loss",
        "final_train_accuracy",
        "final_test_loss",
        "final_test_accuracy",
    } <= set(history.history)
    assert not any(key.startswith("val_") for key in history.history)


def test_negative_settings_raise():
    with pytest.raises(ValueError, match=r"`grad_clip` must be >= 0. Received: grad_clip=-1"):
        ClassifierTrainer(_network(), grad_clip=-1)
    with pytest.raises(ValueError, match=r"`l2` must be >= 0"):
        ClassifierTrainer(_network(), l2=-0.1)
