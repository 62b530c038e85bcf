r"""Train a found CIFAR-10 network from scratch, test it every epoch, export it.

Example:
    train_cifar10 --flagfile=configs/cifar10_macro_final_cpu.flags \
        --arc_file=runs/macro_cpu/best_architecture.json \
        --data_dir=../shared/data/cifar10 --workdir=runs/macro_final_cpu

`--dry_run` prints one JSON line with the parameter count and exits. Re-running the
same command on the same --workdir resumes the training.
"""

import json
import os
import sys

from absl import app, flags, logging

from keras_enas import cli
from keras_enas.config.cifar import CIFARFinalConfig
from keras_enas.programs import common

__all__ = ["define_flags", "main", "run"]

FLAGS = flags.FLAGS


def define_flags():
    """Defines the training's flags (one per `CIFARFinalConfig` field)."""
    cli.define_flags(CIFARFinalConfig)


def _error(e):
    """One line on stderr (the message's whitespace collapsed), exit status 2."""
    print(f"train_cifar10: error: {' '.join(str(e).split())}", file=sys.stderr)
    return 2


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = cli.config_from_flags(CIFARFinalConfig)
        if not config.workdir and not config.dry_run:
            raise ValueError(
                "`--workdir` must be set: the training writes its config, "
                "checkpoints and exported model there."
            )
        # The architecture and the data are checked before TensorFlow is imported.
        from keras_enas.tasks.cifar import architecture

        space, arc = architecture.resolve_architecture(config)
        if config.dry_run:
            from keras_enas.tasks.cifar import train as train_cifar

            print(json.dumps(train_cifar.describe(config, space, arc)))
            return 0
        # The strategy comes first (multi-worker strategies must exist before any TF op).
        from keras_enas import distribute

        c = config.child
        strategy = distribute.strategy_for(
            config, {"child_batch_size": c.batch_size, "child_eval_batch_size": c.eval_batch_size}
        )
        from keras_enas.data import cifar10

        data = cifar10.load_cifar10(config.data_dir, download=False)
        if len(data.x_train) < c.batch_size:
            raise ValueError(
                f"`--child_batch_size` ({c.batch_size}) must not exceed the "
                f"{len(data.x_train)} training images."
            )
        from keras_enas.data import cifar10_pipeline as pipeline
        from keras_enas.models import cifar_models
        from keras_enas.run import cluster
        from keras_enas.tasks.cifar import train as train_cifar

        cifar_models.family(config.search_space)
        chief = cluster.is_chief(strategy)
        train_cifar.prepare_workdir(config, space, arc, write=chief)
    except (ValueError, TypeError, FileNotFoundError) as e:
        return _error(e)
    if chief:
        with open(os.path.join(config.workdir, "flags.txt"), "w") as f:
            f.write(FLAGS.flags_into_string())
    logging.info("CIFAR-10: %d training, %d test images", len(data.x_train), len(data.x_test))
    mean, std = pipeline.standardizer(data.x_train)
    with distribute.scope(strategy):
        results = _train(config, data, pipeline, train_cifar, mean, std, space, arc)
    print(
        f"final_test_accuracy: {results['final_test_accuracy']:.4f} after "
        f"{results['epochs']} epochs ({results['num_parameters']} parameters)"
    )
    if chief:
        print(f"Exported to {os.path.join(config.workdir, 'export')}")
    return 0


def _train(config, data, pipeline, train_cifar, mean, std, space, arc):
    """`run_cifar_training` on the CIFAR-10 pipelines."""
    c = config.child
    return train_cifar.run_cifar_training(
        config,
        train_ds=pipeline.train_dataset(
            data.x_train,
            data.y_train,
            c.batch_size,
            mean,
            std,
            seed=config.seed,
            cutout=c.cutout_size,
        ),
        test_ds=pipeline.eval_dataset(data.x_test, data.y_test, c.eval_batch_size, mean, std),
        mean=mean,
        std=std,
        space=space,
        arc=arc,
        class_names=data.label_names,
    )


def main():
    """The `train_cifar10` command."""
    common.start(__doc__, define_flags, run)
