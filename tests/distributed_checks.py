"""Runs the mirrored-strategy checks on two logical CPUs; prints one JSON line of results.

Run as a subprocess by `distributed_test.py`: logical devices must be configured before
TensorFlow initialises its devices, which the other test modules of a pytest process do.
Every check builds the same model twice from the same seeds, once with no strategy and
once under `MirroredStrategy` over the two logical CPUs, trains both on the same global
batches with dropout 0 (the replicas' dropout masks cannot match one device's), and
reports the largest differences of losses and weights.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import dataclasses  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import ptb_test_utils  # noqa: E402

from keras_enas import distribute  # noqa: E402
from keras_enas.search import callbacks as search_callbacks  # noqa: E402
from keras_enas.tasks.ptb import search as ptb_search  # noqa: E402

# One strategy for the process: strategies created later reuse collective keys.
MIRRORED = distribute.get_strategy("mirrored")
NO_DROPOUT = dict(drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0)


def _max_diff(a_vars, b_vars):
    return max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(a_vars, b_vars))


def _record_arcs(search, strategy, steps):
    """Wraps `search.child_train_step` to record each replica's arc of every step."""
    length = search.space.arc_length if hasattr(search.space, "arc_length") else None
    length = length or len(search.space.num_choices)
    with strategy.scope():
        seen = tf.Variable(
            tf.fill([steps, length], -1),
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
    step_fn, traces = search.child_train_step, []

    def recording(x, y, arc):
        traces.append(1)  # runs once per replica per trace
        i = tf.cast(search.optimizer.iterations, tf.int32)
        seen.assign(tf.tensor_scatter_nd_update(tf.identity(seen), [[i]], [arc]))
        return step_fn(x, y, arc)

    search.child_train_step = recording
    return seen, traces


def _ptb_fit(strategy, arcs_per_step, steps=3):
    config = ptb_test_utils.tiny_config(steps_per_epoch=steps, arcs_per_step=arcs_per_step)
    config = dataclasses.replace(
        config, child=dataclasses.replace(config.child, batch_size=4, **NO_DROPOUT)
    )
    inputs = ptb_test_utils.synthetic_inputs(config)
    with distribute.scope(strategy):
        search = ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    used = strategy or tf.distribute.get_strategy()
    seen, traces = _record_arcs(search, used, steps)
    phase = search_callbacks.ControllerPhase(num_updates=0, num_logged=0, num_marginal_samples=0)
    history = search.fit(
        inputs["train_ds"].take(steps),
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[phase],
        verbose=0,
        shuffle=False,
    )
    arcs = [r.numpy().tolist() for r in used.experimental_local_results(seen)]
    return search, history.history["loss"][-1], arcs, len(traces)


def check_ptb_search_step():
    """One arc for both replicas == the single-device steps; one arc per replica."""
    single, single_loss, single_arcs, _ = _ptb_fit(None, "1")
    mirrored = MIRRORED
    same, same_loss, same_arcs, _ = _ptb_fit(mirrored, "1")
    per, _, per_arcs, per_traces = _ptb_fit(mirrored, "replicas")
    return {
        "replicas": mirrored.num_replicas_in_sync,
        "loss_diff": abs(single_loss - same_loss),
        "weight_diff": _max_diff(single.child.trainable_variables, same.child.trainable_variables),
        "single_arcs": single_arcs[0],
        "one_arc_replica_arcs": same_arcs,
        "per_replica_arcs": per_arcs,
        "per_replica_traces": per_traces,
    }


def check_controller_phase():
    """The parallel controller phase: 2 arcs per round, controller copies stay equal."""
    mirrored = MIRRORED
    config = ptb_test_utils.tiny_config()
    inputs = ptb_test_utils.synthetic_inputs(config)
    with mirrored.scope():
        search = ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    before = [v.numpy() for v in search.controller.trainable_variables]
    logs, samples = search.controller_phase(num_updates=2, num_logged=10)
    copies = [mirrored.experimental_local_results(v.value) for v in search.controller.variables]
    return {
        "samples": len(samples),
        "rewards": [r for _, r in samples],
        "moved": _max_diff([tf.constant(b) for b in before], search.controller.trainable_variables),
        "copies_diff": max(float(np.max(np.abs(a - b))) for a, b in copies),
        "baseline": logs["baseline"],
    }


def _fit_twice(build, dataset, steps=3):
    """Builds and fits a trainer alone and under MIRRORED: `(loss diff, weight diff)`."""
    runs = []
    for strategy in (None, MIRRORED):
        with distribute.scope(strategy):
            trainer, weights = build()
        history = trainer.fit(dataset.take(steps), epochs=1, verbose=0, shuffle=False)
        runs.append((list(history.history.values())[0][-1], weights))
    (loss_a, w_a), (loss_b, w_b) = runs
    return {"loss_diff": abs(loss_a - loss_b), "weight_diff": _max_diff(w_a, w_b)}


def check_ptb_final():
    """`LMTrainer` of a found cell: mirrored == one device for a few steps (dropout 0)."""
    from keras_enas.config import ptb_final
    from keras_enas.data import ptb
    from keras_enas.tasks.ptb import architecture
    from keras_enas.tasks.ptb import train as train_lib

    config = ptb_final.PTBFinalConfig(
        fixed_arc="0 3 1 1 0 2",
        child=ptb_final.FinalModelConfig(hidden_size=8, **NO_DROPOUT),
        train=ptb_final.FinalTrainConfig(batch_size=4, bptt=5),
        seed=1,
    )
    space, arc = architecture.resolve_architecture(config)

    def build():
        keras.utils.set_random_seed(config.seed)
        lm = train_lib.build_ptb_model(config, 30, space, arc)
        return train_lib.build_trainer(config, lm), lm.trainable_variables

    stream = (np.arange(400) * 7 % 30).astype(np.int32)
    return _fit_twice(build, ptb.lm_dataset(stream, 4, 5))


def check_cifar_final():
    """`ClassifierTrainer` of a macro network: mirrored == one device (synchronised BN)."""
    from cifar_test_utils import random_images, standardized

    from keras_enas.config.cifar import CIFARChildConfig, CIFARFinalConfig
    from keras_enas.tasks.cifar import train as train_lib
    from keras_enas.tasks.cifar.architecture import resolve_architecture

    child = CIFARChildConfig(filters=4, batch_size=8, dropout=0.0)
    config = CIFARFinalConfig(fixed_arc="1 5 1 4 0 1", child=child, seed=2)
    space, arc = resolve_architecture(config)

    def build():
        keras.utils.set_random_seed(config.seed)
        model = train_lib.build_cifar_model(config, space, arc, image_shape=(8, 8, 3))
        return train_lib.build_trainer(config, model), model.variables

    images, labels = random_images(24, 8)
    ds = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8)
    return _fit_twice(build, ds)


def _cifar_fit(strategy, arcs_per_step, steps=2):
    from cifar_test_utils import MEAN, STD, random_images, standardized, tiny_search_config

    from keras_enas.config.cifar import CIFARChildConfig
    from keras_enas.tasks.cifar import search as cifar_search

    child = CIFARChildConfig(num_layers=3, filters=4, batch_size=8, eval_batch_size=8, dropout=0)
    config = tiny_search_config(child=child, arcs_per_step=arcs_per_step)
    images, labels = random_images(24, 8)
    with distribute.scope(strategy):
        search = cifar_search.build_cifar_search(config, (images, labels), MEAN, STD)
    seen, _ = _record_arcs(search, strategy or tf.distribute.get_strategy(), steps)
    ds = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8)
    phase = search_callbacks.ControllerPhase(num_updates=1, num_logged=0, num_marginal_samples=0)
    history = search.fit(ds.take(steps), epochs=1, callbacks=[phase], verbose=0, shuffle=False)
    arcs = (strategy or tf.distribute.get_strategy()).experimental_local_results(seen)
    return search, history.history["loss"][-1], [a.numpy().tolist() for a in arcs]


def check_cifar_search():
    """Macro search steps (batch norm inside the sampled op) on two replicas."""
    single, single_loss, single_arcs = _cifar_fit(None, "1")
    same, same_loss, same_arcs = _cifar_fit(MIRRORED, "1")
    _, per_loss, per_arcs = _cifar_fit(MIRRORED, "replicas")
    return {
        "loss_diff": abs(single_loss - same_loss),
        "weight_diff": _max_diff(single.child.variables, same.child.variables),
        "same_arcs": same_arcs == [single_arcs[0]] * 2,
        "per_replica_differ": per_arcs[0] != per_arcs[1],
        "per_replica_loss": per_loss,
    }


def check_user_search():
    """`keras_enas.ENAS` built under `strategy.scope()`, one arc per replica, fits."""
    import keras_enas as ke

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    with MIRRORED.scope():  # the model too: every variable is made under the scope
        inp = keras.Input((6,))
        h = ke.OpChoice(
            [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(8, activation="tanh")],
            name="op",
        )(keras.layers.Dense(8)(inp))
        out = keras.layers.Dense(3, activation="softmax")(h)
        search = ke.ENAS(
            keras.Model(inp, out),
            loss="sparse_categorical_crossentropy",
            arcs_per_step="replicas",
            reward_batch_size=8,
            controller={"train_steps": 1, "num_aggregate": 2},
        )
    before = [v.numpy() for v in search.controller.trainable_variables]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = search.fit(ds, validation_data=ds, epochs=1, verbose=0)
    best = search.best_architecture(num_samples=2)
    return {
        "loss": history.history["loss"][-1],
        "moved": _max_diff([tf.constant(b) for b in before], search.controller.trainable_variables),
        "best": {k: int(v) for k, v in best.items()},
    }


def check_nonfinite_guard(steps=3):
    """A NaN loss on replica 1 only: both replicas skip every step, nothing changes."""
    config = ptb_test_utils.tiny_config(steps_per_epoch=steps)
    config = dataclasses.replace(
        config, child=dataclasses.replace(config.child, batch_size=4, **NO_DROPOUT)
    )
    inputs = ptb_test_utils.synthetic_inputs(config)
    with MIRRORED.scope():
        search = ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    loss_fn = search.child_loss

    def second_replica_diverges(x, y, arc, training):
        loss, objective = loss_fn(x, y, arc, training)
        # NaN on replica 1 only, the gradients stay finite: replica 0 alone would apply.
        bad = tf.stop_gradient(tf.where(tf.equal(distribute.replica_id(), 1), np.nan, 0.0))
        return loss + bad, objective + bad

    search.child_loss = second_replica_diverges
    watched = search.child.trainable_variables + search.optimizer.variables
    before = [np.stack(MIRRORED.experimental_local_results(v.value)) for v in watched]
    phase = search_callbacks.ControllerPhase(num_updates=0, num_logged=0, num_marginal_samples=0)
    search.fit(
        inputs["train_ds"].take(steps), epochs=1, callbacks=[phase], verbose=0, shuffle=False
    )
    after = [np.stack(MIRRORED.experimental_local_results(v.value)) for v in watched]
    counts = MIRRORED.experimental_local_results(search.nonfinite_steps.value)
    return {
        "counts": [int(c) for c in counts],
        "changed": max(float(np.max(np.abs(a - b))) for a, b in zip(before, after)),
    }


def check_bad_inputs():
    """The one-line errors: an indivisible global batch, `tpu` without a TPU."""
    errors = {}
    try:
        distribute.check_global_batch(5, "child_batch_size", MIRRORED)
    except ValueError as e:
        errors["batch"] = str(e)
    config = ptb_test_utils.tiny_config()
    config = dataclasses.replace(config, child=dataclasses.replace(config.child, batch_size=5))
    inputs = ptb_test_utils.synthetic_inputs(config)
    try:
        with MIRRORED.scope():
            ptb_search.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    except ValueError as e:
        errors["search_batch"] = str(e)
    try:
        distribute.get_strategy("tpu", "")
    except ValueError as e:
        errors["tpu"] = str(e)
    return errors


def main():
    results = {}
    for name in sys.argv[1:]:
        keras.utils.clear_session()
        results[name] = globals()["check_" + name]()
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
