"""`run_cifar_training`: train a found CIFAR-10 network from scratch, test it, export it."""

import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_enas import progress
from keras_enas.models import cifar_models
from keras_enas.search import callbacks as cb
from keras_enas.search import workdir as workdir_lib
from keras_enas.train import cifar_architecture as arch_lib
from keras_enas.train import cifar_export
from keras_enas.train.classifier import ClassifierTrainer, FinalTestLabels
from keras_enas.train.schedules import CosineRestarts

RESULTS_FILE = "final_results.json"
NOTE = ("FINAL figures: this architecture trained from scratch, tested on the whole test "
        "split. Search-phase figures (shared weights, sampled children) are not comparable.")


def build_cifar_model(config, space, arc, image_shape=(32, 32, 3)):
    """The fixed network of `arc`, with the model options of `config.child`."""
    options = cifar_models.options_from_config(space.name, config.child, final=True)
    return cifar_models.build_fixed_cnn(space, arc, image_shape=image_shape,
                                        seed=config.seed + 1, **options)


def num_parameters(model):
    """Trainable scalars of a model (batch-norm moving averages excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def describe(config, space, arc):
    """What `--dry_run` prints: parameter counts and the architecture, as a dict."""
    keras.utils.set_random_seed(config.seed)
    model = build_cifar_model(config, space, arc)
    return {"num_parameters": num_parameters(model), "total_parameters": model.count_params(),
            "search_space": space.name, "space_config": space.get_config(),
            "filters": config.child.filters, "fixed_arc": space.format_arc(arc)}


def build_trainer(config, model):
    """A compiled `ClassifierTrainer` (Nesterov SGD) whose optimizer variables exist."""
    c, t = config.child, config.train
    trainer = ClassifierTrainer(model, l2=c.l2, aux_weight=c.aux_weight, grad_clip=c.grad_clip)
    trainer.compile(optimizer=keras.optimizers.SGD(c.lr_max, momentum=c.momentum,
                                                   nesterov=True), jit_compile=t.jit_compile)
    trainer.optimizer.build(model.trainable_variables)
    return trainer


def _identity(config, space, arc):
    """The settings that decide the trained weights: a resumed run must match them."""
    record = config.to_dict()
    for key in ("fixed_arc", "arc_file", "dry_run", "data_dir", "workdir"):
        record.pop(key)
    for key in ("num_epochs", "test_steps"):  # a run may be extended, its tests resized
        record["train"].pop(key)
    record["architecture"] = arch_lib.architecture_record(space, arc)
    return record


def prepare_workdir(config, space, arc):
    """Creates `config.workdir` with its `config.json`, or checks it before a resume.

    Raises:
        ValueError: if the directory holds a run with other settings (a different
            architecture, model or optimisation; the epoch count may change).
    """
    workdir_lib.prepare(config.workdir, _identity(config, space, arc))


def run_cifar_training(config, train_ds, test_ds, mean, std, space=None, arc=None):
    """Trains (or resumes) a found network from scratch, tests it every epoch, exports it.

    Writes into `config.workdir`: `config.json` (the settings that decide the
    weights), `checkpoints/` (every epoch; a re-run resumes), `log.jsonl`,
    `history.csv`, `tensorboard/`, `model.keras`, `export/` (SavedModel +
    `architecture.json` + drawing) and `final_results.json`. The test accuracy of
    every epoch is logged as `final_test_accuracy`.

    Args:
        config: a `config.cifar.CIFARFinalConfig` with `workdir` set.
        train_ds: `tf.data.Dataset` of augmented `(images, labels)` training minibatches.
        test_ds: `tf.data.Dataset` of test minibatches (standardised, unaugmented).
        mean, std: per-channel statistics of the training split (baked into the export).
        space, arc: the architecture; None reads it from `config`
            (`cifar_architecture.resolve_architecture`).

    Returns:
        The dict written to `final_results.json`.

    Raises:
        ValueError: if `workdir` is unset or holds a run with other settings, or the
            architecture is invalid.
    """
    if not config.workdir:
        raise ValueError("`workdir` must be set. Received: workdir=None")
    if space is None:
        space, arc = arch_lib.resolve_architecture(config)
    t, workdir = config.train, config.workdir
    steps = t.steps_per_epoch or int(train_ds.cardinality())
    if steps < 1:
        raise ValueError("`train_ds` must have a known, finite cardinality, or set "
                         f"`train.steps_per_epoch`. Received: cardinality={steps}")
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    prepare_workdir(config, space, arc)
    keras.utils.set_random_seed(config.seed)
    model = build_cifar_model(config, space, arc, tuple(train_ds.element_spec[0].shape[1:]))
    trainer = build_trainer(config, model)
    manager = workdir_lib.checkpoint_manager(workdir, trainer=trainer,
                                             optimizer=trainer.optimizer)
    workdir_lib.restore_latest(manager)
    initial_epoch = int(trainer.epochs_done.numpy())
    # Epochs are windows of one endless stream; a resumed run skips what was used.
    train_ds = train_ds.repeat().skip(initial_epoch * steps)
    if t.test_steps:
        test_ds = test_ds.take(t.test_steps)
    start = time.time()
    if initial_epoch < t.num_epochs:
        trainer.fit(train_ds, epochs=t.num_epochs, initial_epoch=initial_epoch,
                    steps_per_epoch=steps, validation_data=test_ds,
                    callbacks=_callbacks(config, space, model, manager), verbose=2,
                    shuffle=False)
    results = _test_and_export(config, trainer, test_ds, mean, std, space, arc)
    results["train_seconds_this_run"] = round(time.time() - start, 1)
    cb.write_json(os.path.join(workdir, RESULTS_FILE), results)
    logging.info("final_test_accuracy=%.4f after %d epochs", results["final_test_accuracy"],
                 results["epochs"])
    return results


def _callbacks(config, space, model, manager):
    """Schedule, `final_test_*` labels, the space's own callbacks, logs, checkpoints."""
    c, workdir = config.child, config.workdir
    return [CosineRestarts(c.lr_max, c.lr_min, c.lr_t0, c.lr_t_mul), FinalTestLabels(),
            *cifar_models.final_callbacks(space.name, model, c),
            keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
            keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
            cb.JsonlLogger(os.path.join(workdir, "log.jsonl")), cb.Checkpoint(manager),
            progress.Progress(config.train.log_every_secs)]


def _test_and_export(config, trainer, test_ds, mean, std, space, arc):
    """Final test figures, `model.keras` and the SavedModel export; returns the results."""
    model, workdir = trainer.network, config.workdir
    test = trainer.evaluate(test_ds, return_dict=True, verbose=0)
    results = {"final_test_accuracy": float(test["accuracy"]),
               "final_test_loss": float(test["loss"]),
               "epochs": int(trainer.epochs_done.numpy()),
               "num_parameters": num_parameters(model),
               "architecture": arch_lib.architecture_record(space, arc),
               "config": config.to_dict(), "note": NOTE}
    model.save(os.path.join(workdir, "model.keras"))
    extra = {k: results[k] for k in ("final_test_accuracy", "num_parameters", "epochs")}
    cifar_export.export_cifar_model(model, os.path.join(workdir, "export"), mean, std, space,
                                    arc, extra=extra)
    return results


__all__ = ["build_cifar_model", "describe", "prepare_workdir", "run_cifar_training"]
