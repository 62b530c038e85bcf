"""Mixed precision (`--mixed_precision_dtype`): searches and final trainings in bfloat16/float16.

Every variable stays float32, the controller computes in float32, and every loss is
float32, computed from float32 logits; under float16 the child optimizer scales the loss.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config
from ptb_test_utils import synthetic_inputs, tiny_config

import keras_enas as ke
from keras_enas import cli, precision
from keras_enas import config as config_lib
from keras_enas.config import ptb_final
from keras_enas.config.cifar import CIFARChildConfig, CIFARFinalConfig, TrainConfig
from keras_enas.search_spaces import rnn
from keras_enas.search_spaces.micro import MicroSpace
from keras_enas.tasks.cifar import search as cifar_search
from keras_enas.tasks.cifar import train as cifar_train
from keras_enas.tasks.cifar.architecture import resolve_architecture
from keras_enas.tasks.ptb import search as ptb_search
from keras_enas.tasks.ptb import train as ptb_train

DTYPES = ("bfloat16", "float16")
# Relative agreement of one mixed step with the float32 step from the same weights.
LOSS_RTOL = {"bfloat16": 2e-2, "float16": 2e-3}
UPDATE_RTOL = {"bfloat16": 0.1, "float16": 0.02}


def _float_variable_dtypes(variables):
    return {str(v.dtype) for v in variables if "float" in str(v.dtype)}


def _check_precision(search, dtype):
    """The child computes in `dtype`; every float variable and the controller are float32."""
    assert search.child.compute_dtype == dtype
    assert search.controller.compute_dtype == "float32"
    float16 = isinstance(search.optimizer, keras.optimizers.LossScaleOptimizer)
    assert float16 == (dtype == "float16")
    variables = [*search.variables, *search.optimizer.variables, *search.trainer.variables]
    assert _float_variable_dtypes(variables) == {"float32"}


def test_the_flag_its_values_and_bad_values():
    values = flags.FlagValues()
    cli.define_flags(config_lib.PTBSearchConfig, values)
    values(["prog", "--mixed_precision_dtype=bfloat16"])
    config = cli.config_from_flags(config_lib.PTBSearchConfig, values)
    assert config.mixed_precision_dtype == "bfloat16"
    assert "float32" in values["mixed_precision_dtype"].help
    with pytest.raises(ValueError, match=r"`mixed_precision_dtype` must be one of .*float64"):
        config_lib.PTBSearchConfig(mixed_precision_dtype="float64")
    with pytest.raises(ValueError, match=r"Received: mixed_precision_dtype='half'"):
        precision.policy_name("half")


def test_policy_scope_leaves_the_global_policy_alone():
    before = keras.config.dtype_policy().name
    with precision.policy_scope("bfloat16"):
        layer = keras.layers.Dense(2)
    assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
    assert keras.config.dtype_policy().name == before


def _ptb_search(dtype):
    config = tiny_config()
    child = dataclasses.replace(
        config.child, drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0
    )
    config = dataclasses.replace(config, child=child, mixed_precision_dtype=dtype)
    inputs = synthetic_inputs(config)
    search = ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    return search, next(iter(inputs["train_ds"]))


def _ptb_update(search, x, y, arc):
    """`(loss, Δ of every child weight)` of one `child_train_step` from a zero state."""
    before = [v.numpy() for v in search.child.trainable_variables]
    search.reset_states()
    loss = tf.function(search.child_train_step)(x, y, arc)
    after = [v.numpy() for v in search.child.trainable_variables]
    return loss, np.concatenate([(a - b).ravel() for a, b in zip(after, before)])


@pytest.fixture(scope="module")
def ptb_float32_step():
    search, (x, y) = _ptb_search("float32")
    arc = tf.constant(search.space.random_arc(1))
    loss, delta = _ptb_update(search, x, y, arc)
    return float(loss), delta, arc


@pytest.mark.parametrize("dtype", DTYPES)
def test_ptb_search_steps_match_float32(dtype, ptb_float32_step):
    ref_loss, ref_delta, arc = ptb_float32_step
    search, (x, y) = _ptb_search(dtype)
    _check_precision(search, dtype)
    loss, delta = _ptb_update(search, x, y, arc)
    assert loss.dtype == tf.float32
    assert float(loss) == pytest.approx(ref_loss, rel=LOSS_RTOL[dtype])
    # Loss scaling, unscaling and clipping (grad_clip 0.25 binds here) give the same update.
    assert np.linalg.norm(ref_delta) > 0
    assert np.linalg.norm(delta - ref_delta) <= UPDATE_RTOL[dtype] * np.linalg.norm(ref_delta)
    # The loss is the float32 softmax cross-entropy of the (cast) logits.
    logits, _ = search.child(x, tf.zeros([4, 16]), arc)
    assert logits.dtype == dtype
    expected = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.cast(logits, tf.float32))
    )
    assert float(search.batch_loss(x, y, arc)) == pytest.approx(float(expected), rel=1e-5)
    stats, _ = tf.function(lambda: search.trainer.accumulate(search.reward))()
    assert np.isfinite(float(stats["raw_reward"])) and stats["raw_reward"].dtype == tf.float32


# Each CIFAR space under one policy (their first traces are the slowest of the suite).
@pytest.mark.parametrize("space, dtype", [("micro", "bfloat16"), ("macro", "float16")])
def test_cifar_search_step(space, dtype, monkeypatch):
    config = dataclasses.replace(
        tiny_search_config(), search_space=space, mixed_precision_dtype=dtype
    )
    if space == "micro":  # 2-node cells instead of 5: a faster trace, the same layers
        monkeypatch.setattr(
            cifar_search.cifar_models, "space_from_config", lambda *_: MicroSpace(num_nodes=2)
        )
    images, labels = random_images(32)
    search = cifar_search.build_cifar_search(config, (images, labels), MEAN, STD)
    _check_precision(search, dtype)
    x, y = tf.constant(standardized(images[:8])), tf.constant(labels[:8])
    arc = tf.constant(search.space.random_arc(0))
    before = [v.numpy() for v in search.child.trainable_variables]
    loss = tf.function(search.child_train_step)(x, y, arc)
    assert loss.dtype == tf.float32 and np.isfinite(float(loss))
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, search.child.variables)]
    assert any(changed)
    logits, _ = search.child(x, arc, training=False)
    assert logits.dtype == dtype
    expected = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.cast(logits, tf.float32))
    )
    eval_loss, _ = search.child_loss(x, y, arc, training=False)
    assert float(eval_loss) == pytest.approx(float(expected), rel=1e-6)
    stats, _ = tf.function(lambda: search.trainer.accumulate(search.reward))()
    assert np.isfinite(float(stats["raw_reward"]))


def _fit_changes_weights(trainer, network, dataset, dtype):
    assert network.compute_dtype == dtype
    assert _float_variable_dtypes(trainer.variables) == {"float32"}
    float16 = isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert float16 == (dtype == "float16")
    before = [v.numpy() for v in network.trainable_variables]
    history = trainer.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0).history
    assert all(np.isfinite(history["final_train_loss"]))
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, network.variables))


@pytest.mark.parametrize("dtype", DTYPES)
def test_ptb_final_training_step(dtype):
    config = ptb_final.PTBFinalConfig(
        child=ptb_final.FinalModelConfig(hidden_size=8),
        train=ptb_final.FinalTrainConfig(batch_size=4, grad_clip=0.25, slowness=1e-3),
        mixed_precision_dtype=dtype,
    )
    space = rnn.RNNCellSpace(4, "enas_lm")
    lm = ptb_train.build_ptb_model(config, 30, space, space.parse("0 3 1 1 0 2"))
    trainer = ptb_train.build_trainer(config, lm)
    stream = (np.arange(400) * 7 % 30).astype(np.int32).reshape(4, 100)
    ds = tf.data.Dataset.from_tensor_slices((stream[:, :-1].T, stream[:, 1:].T))
    ds = ds.batch(5).map(lambda a, b: (tf.transpose(a), tf.transpose(b))).repeat()
    _fit_changes_weights(trainer, lm, ds, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cifar_final_training_step(dtype):
    config = CIFARFinalConfig(
        fixed_arc="1 5 1 4 0 1",  # 3 macro layers: conv5x5, max pool, conv3x3
        child=CIFARChildConfig(filters=4, batch_size=8),
        train=TrainConfig(),
        mixed_precision_dtype=dtype,
    )
    space, arc = resolve_architecture(config)
    model = cifar_train.build_cifar_model(config, space, arc, image_shape=(8, 8, 3))
    trainer = cifar_train.build_trainer(config, model)
    images, labels = random_images(24)
    ds = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8).repeat()
    _fit_changes_weights(trainer, model, ds, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_user_space_search_step(dtype):
    with precision.policy_scope(dtype):  # the Keras way: build the supernet under a policy
        inp = keras.Input((8, 8, 3))
        h = keras.layers.Conv2D(4, 3, padding="same")(inp)
        h1 = ke.OpChoice(
            [keras.layers.Conv2D(4, 3, padding="same"), keras.layers.Conv2D(4, 5, padding="same")],
            name="op",
        )(h)
        h2 = ke.InputChoice(num_chosen=1, name="skip")([h, h1])
        out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(h2))
        supernet = keras.Model(inp, out)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    search = ke.ENAS(supernet, loss=loss, seed=0, controller={"hidden_size": 8})
    _check_precision(search, dtype)
    images, labels = random_images(8)
    x, y = tf.constant(standardized(images)), tf.constant(labels)
    step = tf.function(search.child_train_step)
    losses = [step(x, y, tf.constant(search.space.random_arc(i))) for i in range(2)]
    assert all(loss.dtype == tf.float32 and np.isfinite(float(loss)) for loss in losses)
