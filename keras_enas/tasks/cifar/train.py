"""`run_cifar_training`: train a found CIFAR-10 network from scratch, test it, export it."""

import os
import time

import keras
import numpy as np
from absl import logging

from keras_enas import precision
from keras_enas.models import cifar_models
from keras_enas.run import cluster, files
from keras_enas.run import fit as fit_lib
from keras_enas.run import workdir as workdir_lib
from keras_enas.tasks.cifar import architecture as arch_lib
from keras_enas.tasks.cifar import evaluate, export
from keras_enas.tasks.cifar.classifier import ClassifierTrainer, FinalTestLabels
from keras_enas.tasks.cifar.schedules import CosineRestarts

RESULTS_FILE = "final_results.json"
NOTE = (
    "FINAL figures: this architecture trained from scratch, tested on the whole test "
    "split. Search-phase figures (shared weights, sampled children) are not comparable."
)


def build_cifar_model(config, space, arc, image_shape=(32, 32, 3)):
    """The fixed network of `arc`, with the model options of `config.child`."""
    options = cifar_models.options_from_config(space.name, config.child, final=True)
    with precision.policy_scope(config.mixed_precision_dtype):
        return cifar_models.build_fixed_cnn(
            space, arc, image_shape=image_shape, seed=config.seed + 1, **options
        )


def num_parameters(model):
    """Trainable scalars of a model (batch-norm moving averages excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def describe(config, space, arc):
    """What `--dry_run` prints: parameter counts and the architecture, as a dict."""
    keras.utils.set_random_seed(config.seed)
    model = build_cifar_model(config, space, arc)
    return {
        "num_parameters": num_parameters(model),
        "total_parameters": model.count_params(),
        "search_space": space.name,
        "space_config": space.get_config(),
        "filters": config.child.filters,
        "fixed_arc": space.format_arc(arc),
    }


def build_trainer(config, model):
    """A compiled `ClassifierTrainer` (Nesterov SGD) whose optimizer variables exist."""
    c, t = config.child, config.train
    trainer = ClassifierTrainer(model, l2=c.l2, aux_weight=c.aux_weight, grad_clip=c.grad_clip)
    trainer.compile(
        optimizer=precision.loss_scaled(
            keras.optimizers.SGD(c.lr_max, momentum=c.momentum, nesterov=True), model
        ),
        jit_compile=t.jit_compile,
    )
    trainer.optimizer.build(model.trainable_variables)
    trainer.built = True  # every variable exists (fit under a strategy checks it)
    return trainer


def _identity(config, space, arc):
    """The settings that decide the trained weights: a resumed run must match them."""
    record = config.to_dict()
    for key in ("fixed_arc", "arc_file", "dry_run", "data_dir", "workdir", "export_tflite"):
        record.pop(key)
    # A run may be extended, its tests resized, its divergence limit changed.
    for key in ("num_epochs", "test_steps", "max_nonfinite_steps"):
        record["train"].pop(key)
    record["architecture"] = arch_lib.architecture_record(space, arc)
    return record


def prepare_workdir(config, space, arc, write=True):
    """Creates `config.workdir` with its `config.json`, or checks it before a resume.

    With `write=False` (a non-chief multi-worker) an existing `config.json` is only checked.

    Raises:
        ValueError: if the directory holds a run with other settings (a different
            architecture, model or optimisation; the epoch count may change).
    """
    workdir_lib.prepare(config.workdir, _identity(config, space, arc), write=write)


@cluster.chief_writes
def run_cifar_training(
    config, train_ds, test_ds, mean, std, space=None, arc=None, class_names=None
):
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
        class_names: the class names in label order (`CIFAR10Data.label_names`),
            shipped with the export (default: "0", "1", ...).

    Returns:
        The dict written to `final_results.json`.

    Raises:
        ValueError: if `workdir` is unset or holds a run with other settings, or the
            architecture is invalid.
    """
    fit_lib.check_workdir(config.workdir)
    if space is None:
        space, arc = arch_lib.resolve_architecture(config)
    t, workdir = config.train, config.workdir
    steps = fit_lib.steps_per_epoch(t.steps_per_epoch, train_ds, "train.steps_per_epoch")
    if t.deterministic:
        fit_lib.enable_determinism()  # op determinism and one inter-op thread
    prepare_workdir(config, space, arc)
    keras.utils.set_random_seed(config.seed)
    model = build_cifar_model(config, space, arc, tuple(train_ds.element_spec[0].shape[1:]))
    trainer = build_trainer(config, model)
    if t.test_steps:
        test_ds = test_ds.take(t.test_steps)
    start = time.time()
    fit_lib.fit_resumable(
        trainer,
        workdir,
        {"trainer": trainer, "optimizer": trainer.optimizer},
        train_ds,
        t.num_epochs,
        steps_per_epoch=steps,
        validation_data=test_ds,
        callbacks=_callbacks(config, space, model),
        shuffle=False,
        log_every_secs=t.log_every_secs,
        nonfinite_limit=t.max_nonfinite_steps,
        nonfinite_setting="--train_max_nonfinite_steps",
        nonfinite_hint="Lower --child_lr_max or clip with --child_grad_clip. ",
    )
    results = _test_and_export(config, trainer, test_ds, (mean, std), space, arc, class_names)
    results["train_seconds_this_run"] = round(time.time() - start, 1)
    files.write_json(os.path.join(workdir, RESULTS_FILE), results)
    logging.info(
        "final_test_accuracy=%.4f after %d epochs",
        results["final_test_accuracy"],
        results["epochs"],
    )
    return results


def _callbacks(config, space, model):
    """Schedule, `final_test_*` labels, the space's own callbacks (logs come after)."""
    c = config.child
    return [
        CosineRestarts(c.lr_max, c.lr_min, c.lr_t0, c.lr_t_mul),
        FinalTestLabels(),
        *cifar_models.final_callbacks(space.name, model, c),
    ]


def _test_and_export(config, trainer, test_ds, statistics, space, arc, class_names):
    """Final test figures, `model.keras` and the SavedModel export; returns the results."""
    model, workdir = trainer.network, config.workdir
    results = {
        **evaluate.test_accuracy(trainer, test_ds),
        "epochs": int(trainer.epochs_done.numpy()),
        "num_parameters": num_parameters(model),
        "architecture": arch_lib.architecture_record(space, arc),
        "config": config.to_dict(),
        "note": NOTE,
    }
    model.save(os.path.join(workdir, "model.keras"))
    extra = {k: results[k] for k in ("final_test_accuracy", "num_parameters", "epochs")}
    export.export_cifar_model(
        model,
        os.path.join(workdir, "export"),
        *statistics,
        space,
        arc,
        extra=extra,
        class_names=class_names,
        tflite=config.export_tflite,
    )
    return results


__all__ = [
    "build_cifar_model",
    "build_trainer",
    "describe",
    "num_parameters",
    "prepare_workdir",
    "run_cifar_training",
]
