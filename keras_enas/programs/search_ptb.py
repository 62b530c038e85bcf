r"""Search a recurrent cell on Penn Treebank with ENAS (or random search).

Examples:
    search_ptb --flagfile=configs/ptb_search_cpu.flags --data_dir=../shared/data/ptb \
        --workdir=runs/ptb_cpu
    search_ptb --flagfile=configs/ptb_search_cpu.flags --data_dir=../shared/data/ptb --dry_run

Re-running the same command on the same --workdir resumes the search. --dry_run prints one
JSON line (parameter count, architectures in the space, steps per epoch and the run's wall
time estimated from a few timed steps) and writes nothing.
"""

import json
import os
import sys

from absl import app, flags, logging

from keras_enas import cli
from keras_enas import config as config_lib
from keras_enas.programs import common

__all__ = ["define_flags", "main", "run"]

FLAGS = flags.FLAGS


def define_flags():
    """Defines the search's flags (one per `PTBSearchConfig` field) and `--dry_run`."""
    cli.define_flags(config_lib.PTBSearchConfig)
    common.define_search_dry_run()


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = cli.config_from_flags(config_lib.PTBSearchConfig)
        if not config.workdir and not FLAGS.dry_run:
            raise ValueError(
                "`--workdir` must be set: the search writes its config, "
                "checkpoints and results there."
            )
        # TensorFlow is imported only once the flags are known to be good; the strategy
        # comes first (multi-worker strategies must exist before any other TF op).
        from keras_enas import distribute

        c = config.child
        strategy = distribute.strategy_for(
            config, {"child_batch_size": c.batch_size, "child_eval_batch_size": c.eval_batch_size}
        )
        from keras_enas.data import ptb
        from keras_enas.run import cluster, workdir
        from keras_enas.tasks.ptb import search as ptb_search

        data = ptb.load_ptb(config.data_dir)
        c = config.child
        data.require_minibatch(
            "train", c.batch_size, c.bptt, ("--child_batch_size", "--child_bptt")
        )
        data.require_minibatch(
            "valid", c.eval_batch_size, c.bptt, ("--child_eval_batch_size", "--child_bptt")
        )
        chief = cluster.is_chief(strategy)
        if not FLAGS.dry_run:
            workdir.prepare(config.workdir, config.to_dict(), write=chief)
    except (ValueError, FileNotFoundError) as e:
        print(f"search_ptb: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    c = config.child
    inputs = dict(
        train_ds=ptb.lm_dataset(data.train, c.batch_size, c.bptt),
        valid_ds=ptb.lm_dataset(data.valid, c.eval_batch_size, c.bptt),
        reward_batches=ptb.lm_batches(data.valid, c.eval_batch_size, c.bptt),
        vocab_size=data.vocab_size,
    )
    if FLAGS.dry_run:
        print(json.dumps(ptb_search.describe_ptb_search(config, **inputs)))
        return 0
    if chief:
        with open(os.path.join(config.workdir, "flags.txt"), "w") as f:
            f.write(FLAGS.flags_into_string())
    logging.info("PTB: vocabulary %d, %d training tokens", data.vocab_size, len(data.train))
    with distribute.scope(strategy):
        result = ptb_search.run_ptb_search(config, **inputs)
    print(result["decoded_text"])
    print(f"fixed_arc (original format): {result['fixed_arc']}")
    if chief:
        print(f"Wrote {os.path.join(config.workdir, 'best_architecture.json')}")
    return 0


def main():
    """The `search_ptb` command."""
    common.start(__doc__, define_flags, run)
