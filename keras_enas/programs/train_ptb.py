r"""Train a found PTB cell (or the LSTM baseline) from scratch, evaluate it and export it.

Examples:
    train_ptb --flagfile=configs/ptb_final_cpu.flags --data_dir=../shared/data/ptb \
        --workdir=runs/ptb_final_cpu
    train_ptb --flagfile=configs/ptb_final.flags --arc_file=runs/ptb_search/best_architecture.json \
        --data_dir=data/ptb --workdir=runs/final
    train_ptb --flagfile=configs/ptb_final.flags --dry_run   # parameter count, then exit

With --arc_file, the flagfile's --fixed_arc is ignored (with a notice).
Re-running the same command on the same --workdir resumes after the last finished epoch.
Results are labelled final_* (final_valid_ppl, final_test_ppl) in final_results.json.
"""

import json
import os
import sys

from absl import app, flags, logging

from keras_enas import cli
from keras_enas.config import ptb_final
from keras_enas.programs import common

__all__ = ["define_flags", "main", "run"]

FLAGS = flags.FLAGS


def define_flags():
    """Defines the training's flags (one per `PTBFinalConfig` field) and `--dry_run`."""
    cli.define_flags(ptb_final.PTBFinalConfig)
    # An action, not an experiment setting: it is not part of the config.
    flags.DEFINE_bool(
        "dry_run",
        False,
        "Build the model, print one JSON line with its parameter "
        "count and architecture, and exit without training.",
    )


def _prepare():
    """Config, architecture and data; raises ValueError/FileNotFoundError on bad input."""
    config = cli.config_from_flags(ptb_final.PTBFinalConfig)
    from keras_enas.tasks.ptb import architecture  # no TensorFlow yet

    space, arc = architecture.resolve_architecture(config)
    if not FLAGS.dry_run and not config.workdir:
        raise ValueError(
            "`--workdir` must be set: training writes its config, checkpoints, "
            "results and export there."
        )
    # TensorFlow is imported once the flags are good; the strategy comes first
    # (multi-worker strategies must exist before any other TF op).
    from keras_enas import distribute

    strategy = None
    if not FLAGS.dry_run:
        strategy = distribute.strategy_for(config, {"train_batch_size": config.train.batch_size})
    from keras_enas.data import ptb

    data = ptb.load_ptb(config.data_dir)
    t, e = config.train, config.eval
    data.require_minibatch("train", t.batch_size, t.bptt, ("--train_batch_size", "--train_bptt"))
    for split in ("valid", "test"):  # evaluation needs 2 tokens per row
        data.require_minibatch(split, e.batch_size, 1, ("--eval_batch_size", "(at least) bptt"))
    data.require_minibatch("valid", e.epoch_batch_size, 1, ("--eval_epoch_batch_size", "bptt"))
    if not FLAGS.dry_run:
        from keras_enas.run import cluster
        from keras_enas.tasks.ptb import train as train_lib

        # Refuses a run with other settings (a non-chief worker only checks).
        train_lib.prepare_workdir(config, space, arc, write=cluster.is_chief(strategy))
    return config, space, arc, ptb, data, strategy


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config, space, arc, ptb, data, strategy = _prepare()
    except (ValueError, FileNotFoundError) as e:
        print(f"train_ptb: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    from keras_enas import distribute
    from keras_enas.run import cluster
    from keras_enas.tasks.ptb import train as train_lib

    if FLAGS.dry_run:
        print(json.dumps(train_lib.describe(config, data.vocab_size, space, arc)))
        return 0
    chief = cluster.is_chief(strategy)
    if chief:
        with open(os.path.join(config.workdir, "flags.txt"), "w") as f:
            f.write(FLAGS.flags_into_string())
    t = config.train
    logging.info("PTB: vocabulary %d, %d training tokens", data.vocab_size, len(data.train))
    with distribute.scope(strategy):
        results = train_lib.run_ptb_training(
            config,
            train_ds=ptb.lm_dataset(data.train, t.batch_size, t.bptt),
            valid_tokens=data.valid,
            test_tokens=data.test,
            vocab_size=data.vocab_size,
            space=space,
            arc=arc,
            vocab=data.vocab,
        )
    keys = ("final_valid_ppl", "final_test_ppl", "num_parameters", "epochs")
    print(json.dumps({k: results[k] for k in keys}))
    if chief:
        print(
            f"Wrote {os.path.join(config.workdir, train_lib.RESULTS_FILE)} and "
            f"{os.path.join(config.workdir, 'export')}"
        )
    return 0


def main():
    """The `train_ptb` command."""
    common.start(__doc__, define_flags, run)
