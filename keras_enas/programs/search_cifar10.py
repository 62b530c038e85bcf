r"""Search a CIFAR-10 network with ENAS (or random search): --search_space=macro or micro.

Examples:
    search_cifar10 --flagfile=configs/cifar10_macro_search_cpu.flags \
        --data_dir=../shared/data/cifar10 --workdir=runs/macro_cpu
    search_cifar10 --flagfile=configs/cifar10_micro_search_cpu.flags \
        --data_dir=../shared/data/cifar10 --dry_run

Re-running the same command on the same --workdir resumes the search. --dry_run prints one
JSON line (parameter count, architectures in the space, steps per epoch and the run's wall
time estimated from a few timed steps) and writes nothing.
"""

import json
import os
import sys

from absl import app, flags, logging

from keras_enas import cli
from keras_enas.config.cifar import CIFARSearchConfig
from keras_enas.programs import common

__all__ = ["define_flags", "main", "run"]

FLAGS = flags.FLAGS


def define_flags():
    """Defines the search's flags (one per `CIFARSearchConfig` field) and `--dry_run`."""
    cli.define_flags(CIFARSearchConfig)
    common.define_search_dry_run()


def _error(e):
    """One line on stderr (the message's whitespace collapsed), exit status 2."""
    print(f"search_cifar10: error: {' '.join(str(e).split())}", file=sys.stderr)
    return 2


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = cli.config_from_flags(CIFARSearchConfig)
        if not config.workdir and not FLAGS.dry_run:
            raise ValueError(
                "`--workdir` must be set: the search writes its config, "
                "checkpoints and results there."
            )
        # The strategy comes first (multi-worker strategies must exist before any TF op).
        from keras_enas import distribute

        c = config.child
        strategy = distribute.strategy_for(
            config, {"child_batch_size": c.batch_size, "child_eval_batch_size": c.eval_batch_size}
        )
        from keras_enas.data import cifar10

        data = cifar10.load_cifar10(config.data_dir, download=False)
        from keras_enas.data import cifar10_pipeline as pipeline

        (x_train, y_train), (x_valid, y_valid) = pipeline.split_validation(
            data.x_train, data.y_train, valid_fraction=config.data.valid_fraction
        )
        if min(len(x_train), len(x_valid)) < c.batch_size:
            raise ValueError(
                f"`--child_batch_size` ({c.batch_size}) must not exceed the "
                f"{len(x_train)} training and {len(x_valid)} validation images."
            )
        from keras_enas.models import cifar_models
        from keras_enas.run import cluster, workdir
        from keras_enas.tasks.cifar import search as cifar_search

        cifar_models.family(config.search_space)
        chief = cluster.is_chief(strategy)
        if not FLAGS.dry_run:
            workdir.prepare(config.workdir, config.to_dict(), write=chief)
    except (ValueError, TypeError, FileNotFoundError) as e:
        return _error(e)
    mean, std = pipeline.standardizer(x_train)
    inputs = dict(
        train_ds=pipeline.train_dataset(
            x_train, y_train, c.batch_size, mean, std, seed=config.seed, cutout=c.cutout_size
        ),
        valid_ds=pipeline.eval_dataset(x_valid, y_valid, c.eval_batch_size, mean, std),
        reward_data=(x_valid, y_valid),
        mean=mean,
        std=std,
    )
    if FLAGS.dry_run:
        print(json.dumps(cifar_search.describe_cifar_search(config, **inputs)))
        return 0
    if chief:
        with open(os.path.join(config.workdir, "flags.txt"), "w") as f:
            f.write(FLAGS.flags_into_string())
    logging.info("CIFAR-10: %d training, %d validation images", len(x_train), len(x_valid))
    with distribute.scope(strategy):
        result = cifar_search.run_cifar_search(config, **inputs)
    print(result["decoded_text"])
    print(f"fixed_arc: {result['fixed_arc']}")
    if chief:
        print(f"Wrote {os.path.join(config.workdir, 'best_architecture.json')}")
    return 0


def main():
    """The `search_cifar10` command."""
    common.start(__doc__, define_flags, run)
