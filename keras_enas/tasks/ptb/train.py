"""`run_ptb_training`: train a found PTB cell from scratch, evaluate, export (what `bin/` calls)."""

import os
import time

import keras
from absl import logging

from keras_enas import precision
from keras_enas.models import fixed_rnn
from keras_enas.run import cluster, faults, files
from keras_enas.run import fit as fit_lib
from keras_enas.run import workdir as workdir_lib
from keras_enas.tasks.ptb import architecture as arch_lib
from keras_enas.tasks.ptb import callbacks as ptb_cb
from keras_enas.tasks.ptb import evaluate, export
from keras_enas.tasks.ptb.lm_trainer import LMTrainer

__all__ = [
    "build_ptb_model",
    "build_trainer",
    "describe",
    "NOTE",
    "prepare_workdir",
    "RESULTS_FILE",
    "run_ptb_training",
]

RESULTS_FILE = "final_results.json"
NOTE = (
    "FINAL figures: this architecture trained from scratch and evaluated over whole "
    "splits with the state carried. Search-phase figures (loss/ppl/val_ppl of sampled "
    "children with shared weights) are not comparable."
)


def build_ptb_model(config, vocab_size, space=None, arc=None):
    """The fixed LM a `PTBFinalConfig` describes (`space`/`arc` from `resolve_architecture`)."""
    c = config.child
    with precision.policy_scope(config.mixed_precision_dtype):
        return fixed_rnn.build_fixed_model(
            space,
            arc,
            vocab_size,
            c.hidden_size,
            drop_e=c.drop_e,
            drop_i=c.drop_i,
            drop_x=c.drop_x,
            drop_l=c.drop_l,
            drop_o=c.drop_o,
            cell=config.cell,
            output_mode=c.output_mode,
            init_range=c.init_range,
            seed=config.seed + 1,
        )


def describe(config, vocab_size, space=None, arc=None):
    """What `--dry_run` prints: the parameter count and the architecture, as a dict."""
    keras.utils.set_random_seed(config.seed)
    lm = build_ptb_model(config, vocab_size, space, arc)
    return {
        "num_parameters": fixed_rnn.num_parameters(lm),
        "cell": config.cell,
        "hidden_size": config.child.hidden_size,
        "vocab_size": vocab_size,
        "architecture": arch_lib.architecture_record(space, arc),
    }


def build_trainer(config, lm):
    """A compiled `LMTrainer` whose variables (model, optimizer) all exist."""
    t = config.train
    trainer = LMTrainer(
        lm,
        t.batch_size,
        l2=t.l2,
        slowness=t.slowness,
        activation_l2=t.activation_l2,
        loss_reduction=t.loss_reduction,
        grad_clip=t.grad_clip,
        asgd=t.asgd,
        asgd_nonmono=t.asgd_nonmono,
        asgd_start_epoch=t.asgd_start_epoch,
    )
    trainer.compile(optimizer=precision.loss_scaled(keras.optimizers.SGD(t.learning_rate), lm))
    trainer.optimizer.build(lm.trainable_variables)
    trainer.built = True  # every variable exists (fit under a strategy checks it)
    return trainer


def _identity(config, space, arc):
    """The settings that decide the trained weights: a resumed run must match them."""
    record = config.to_dict()
    for key in ("fixed_arc", "arc_file", "arc_format", "num_nodes", "eval", "export_tflite"):
        record.pop(key)
    record["train"].pop("num_epochs")  # a run may be extended
    record["train"].pop("max_nonfinite_steps")
    record["architecture"] = arch_lib.architecture_record(space, arc)
    return record


def prepare_workdir(config, space=None, arc=None, write=True):
    """Creates `config.workdir` with its `config.json`, or checks it before a resume.

    With `write=False` (a non-chief multi-worker) an existing `config.json` is only checked.

    Raises:
        ValueError: if the directory holds a run with other settings (a different
            architecture, model or optimisation; the epoch count and the evaluation
            settings may change).
    """
    workdir_lib.prepare(config.workdir, _identity(config, space, arc), write=write)


@cluster.chief_writes
def run_ptb_training(
    config, train_ds, valid_tokens, test_tokens, vocab_size, space=None, arc=None, vocab=None
):
    """Trains (or resumes) the final model, evaluates it and exports it.

    Writes into `config.workdir`: `config.json` (the settings that decide the weights),
    `checkpoints/` (every epoch; a re-run resumes), `log.jsonl`, `history.csv`,
    `tensorboard/`, `model.keras`, `export/` (SavedModel + `architecture.json` +
    `cell.png`) and `final_results.json`. Every figure is labelled `final_*`.

    Args:
        config: a `PTBFinalConfig` with `workdir` set.
        train_ds: `tf.data.Dataset` of sequential `(x, y)` minibatches `(B, T)`.
        valid_tokens, test_tokens: 1-D token streams of the whole splits.
        vocab_size: V.
        space, arc: the architecture; None reads it from `config` (`resolve_architecture`).
        vocab: the V words in id order (`PTBData.vocab`): the export then ships
            `assets/vocab.txt` and scores words; None exports ids only.

    Returns:
        The dict written to `final_results.json`.

    Raises:
        ValueError: if `workdir` is unset or holds a run with other settings, or the
            architecture is invalid.
    """
    fit_lib.check_workdir(config.workdir)
    if space is None and config.cell == "enas":
        space, arc = arch_lib.resolve_architecture(config)
    if config.train.deterministic:
        fit_lib.enable_determinism()
    workdir, t, e = config.workdir, config.train, config.eval
    prepare_workdir(config, space, arc)
    keras.utils.set_random_seed(config.seed)
    lm = build_ptb_model(config, vocab_size, space, arc)
    trainer = build_trainer(config, lm)
    callbacks = [
        ptb_cb.ResetStates(),
        ptb_cb.EpochDecay(t.learning_rate, t.lr_decay, t.lr_decay_start),
        ptb_cb.EpochValidation(valid_tokens, e.epoch_batch_size, e.bptt),
    ]
    start = time.time()
    fit_lib.fit_resumable(
        trainer,
        workdir,
        trainer.checkpoint_items(),
        train_ds,
        t.num_epochs,
        steps_per_epoch=t.steps_per_epoch or None,
        callbacks=callbacks,
        log_every_secs=t.log_every_secs,
        nonfinite_limit=t.max_nonfinite_steps,
        nonfinite_setting="--train_max_nonfinite_steps",
        nonfinite_hint="Lower --train_learning_rate or clip with --train_grad_clip. ",
    )
    if trainer.averaging:  # ASGD: the final model is the average
        trainer.swap_averages()
    results = _evaluate_and_export(
        config, lm, trainer, (valid_tokens, test_tokens), space, arc, vocab
    )
    results["seconds_this_run"] = round(time.time() - start, 1)
    files.write_json(os.path.join(workdir, RESULTS_FILE), results)
    logging.info(
        "final_valid_ppl=%.2f  final_test_ppl=%.2f",
        results["final_valid_ppl"],
        results["final_test_ppl"],
    )
    return results


def _evaluate_and_export(config, lm, trainer, splits, space, arc, vocab):
    """Whole-split valid/test perplexities, `model.keras` and the SavedModel export."""
    e, workdir = config.eval, config.workdir
    valid_tokens, test_tokens = splits
    start = time.time()
    valid = evaluate.perplexity(lm, valid_tokens, e.batch_size, e.bptt)
    test = evaluate.perplexity(lm, test_tokens, e.batch_size, e.bptt)
    record = arch_lib.architecture_record(space, arc)
    lm.save(os.path.join(workdir, "model.keras"))
    faults.point("export")
    export.export_ptb_model(
        lm,
        os.path.join(workdir, "export"),
        space,
        arc,
        extra={"final_valid_ppl": valid["ppl"], "final_test_ppl": test["ppl"]},
        vocab=vocab,
        tflite=config.export_tflite,
    )
    return {
        "final_valid_ppl": valid["ppl"],
        "final_test_ppl": test["ppl"],
        "final_valid_loss": valid["loss"],
        "final_test_loss": test["loss"],
        "final_valid_tokens": valid["num_tokens"],
        "final_test_tokens": test["num_tokens"],
        "eval_batch_size": e.batch_size,
        "eval_seconds": round(time.time() - start, 1),
        "epochs": int(trainer.epochs_done.numpy()),
        "asgd_averaged": trainer.averaging,
        "num_parameters": fixed_rnn.num_parameters(lm),
        "architecture": record,
        "config": config.to_dict(),
        "note": NOTE,
    }
