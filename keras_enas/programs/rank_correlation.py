r"""Measure how well a search's shared weights rank architectures (Kendall tau, Spearman rho).

Samples --num_arcs arcs from the search's controller (or uniformly), scores each with the
shared weights on the same --score_num_batches validation minibatches, trains each from
scratch with a small budget, and writes ranking.json and ranking.png into --workdir.
PTB searches: the budget is --child_* / --train_*. Macro and micro (CIFAR-10) searches:
the budget is a train_cifar10 flagfile, --cifar_final_flagfile. User spaces: from Python,
keras_enas.rank_correlation(search, train_fn, workdir).

Examples:
    rank_correlation --flagfile=configs/rank_correlation_smoke.flags \
        --search_workdir=runs/ptb_smoke --data_dir=../shared/data/ptb --workdir=runs/rank_smoke
    rank_correlation --num_arcs=4 --score_num_batches=2 --search_workdir=runs/macro_smoke \
        --cifar_final_flagfile=configs/cifar10_macro_final_smoke.flags \
        --data_dir=../shared/data/cifar10 --workdir=runs/rank_macro

Re-running the same command on the same --workdir resumes (one arcs.jsonl line per trained arc).
"""

import os
import sys

from absl import app, logging

from keras_enas import cli
from keras_enas.config import rank
from keras_enas.programs import common

__all__ = ["define_flags", "main", "run"]


def define_flags():
    """Defines the study's flags (one per `RankCorrelationConfig` field)."""
    cli.define_flags(rank.RankCorrelationConfig)


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = cli.config_from_flags(rank.RankCorrelationConfig)
        if not config.workdir:
            raise ValueError(
                "`--workdir` must be set: the study writes its arcs, trainings and ranking there."
            )
        task, search_dict = _search_task(config.search_workdir)
        # TensorFlow once the flags are good; the strategy before any other TF op.
        from keras_enas import distribute

        strategy = distribute.strategy_for(config, {})
        if task == "ptb":
            study = _ptb_study(config, strategy)
        else:
            study = _cifar_study(config, search_dict, strategy)
        from keras_enas.run import workdir

        workdir.make_workdir(config.workdir)
    except (ValueError, FileNotFoundError) as e:
        print(f"rank_correlation: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    from keras_enas.run import cluster

    with distribute.scope(strategy):
        ranking = study()
    for name in ("kendall_tau", "spearman_rho"):
        r = ranking[name]
        print(f"{name} = {r['value']:.3f}  95% CI [{r['low']:.3f}, {r['high']:.3f}]")
    if cluster.is_chief(strategy):
        print(f"Wrote {os.path.join(config.workdir, 'ranking.json')}")
    return 0


def _search_task(search_workdir):
    """`("ptb" | "cifar", config dict)` of the search in `search_workdir`."""
    from keras_enas.run.files import read_json
    from keras_enas.search_spaces import registry

    path = os.path.join(search_workdir or "", "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"`search_workdir` must hold a search's config.json. "
            f"Received: search_workdir={search_workdir!r}"
        )
    search_dict = read_json(path)
    name = search_dict.get("search_space", "ptb_rnn")
    task = registry.get_spec(name).task
    if task not in ("ptb", "cifar"):
        raise ValueError(
            f"{search_workdir} holds a {name!r} search: a user space's study runs from "
            "Python, keras_enas.rank_correlation(search, train_fn, workdir), since only "
            "your code can build and train your model."
        )
    return task, search_dict


def _ptb_study(config, strategy):
    """Checks the PTB inputs; returns the study to run."""
    from keras_enas import distribute
    from keras_enas.tasks.ptb import rank_correlation

    distribute.check_global_batch(config.train.batch_size, "train_batch_size", strategy)

    search_config = rank_correlation.load_ptb_search_config(config.search_workdir)
    from keras_enas.data import ptb

    data = ptb.load_ptb(config.data_dir)
    c, t = search_config.child, config.train
    data.require_minibatch("train", t.batch_size, t.bptt, ("--train_batch_size", "--train_bptt"))
    data.require_minibatch(
        "valid", c.eval_batch_size, c.bptt, ("the search's eval_batch_size", "bptt")
    )
    logging.info("PTB: vocabulary %d; search %s", data.vocab_size, config.search_workdir)
    return lambda: rank_correlation.run_ptb_rank_correlation(
        config,
        search_config,
        reward_batches=ptb.lm_batches(data.valid, c.eval_batch_size, c.bptt),
        train_ds=ptb.lm_dataset(data.train, t.batch_size, t.bptt),
        valid_tokens=data.valid,
        test_tokens=data.test,
        vocab_size=data.vocab_size,
    )


def _cifar_study(config, search_dict, strategy):
    """Checks the CIFAR-10 inputs (search, budget flagfile, data); returns the study."""
    from keras_enas.config.cifar import CIFARFinalConfig

    if not config.cifar_final_flagfile:
        raise ValueError(
            "`--cifar_final_flagfile` must name a train_cifar10 flagfile (the from-scratch "
            "budget of every arc) for a macro or micro search. Received: None"
        )
    # The flagfile's own architecture is replaced by the search's (each arc is set per run).
    final = cli.config_from_flagfile(
        CIFARFinalConfig,
        config.cifar_final_flagfile,
        fixed_arc=None,
        arc_file=os.path.join(config.search_workdir, "best_architecture.json"),
    )
    from keras_enas import distribute

    distribute.check_global_batch(final.child.batch_size, "child_batch_size", strategy)
    from keras_enas.data import cifar10
    from keras_enas.data import cifar10_pipeline as pipeline
    from keras_enas.tasks.cifar import rank_correlation

    search_config = rank_correlation.load_cifar_search_config(config.search_workdir, search_dict)
    data = cifar10.load_cifar10(config.data_dir, download=False)
    (x_train, y_train), valid = pipeline.split_validation(
        data.x_train, data.y_train, valid_fraction=search_config.data.valid_fraction
    )
    mean, std = pipeline.standardizer(x_train)
    c = final.child
    return lambda: rank_correlation.run_cifar_rank_correlation(
        config,
        search_config,
        final,
        reward_data=valid,
        train_ds=pipeline.train_dataset(
            x_train, y_train, c.batch_size, mean, std, seed=config.seed, cutout=c.cutout_size
        ),
        valid_ds=pipeline.eval_dataset(*valid, c.eval_batch_size, mean, std),
        mean=mean,
        std=std,
    )


def main():
    """The `rank_correlation` command."""
    common.start(__doc__, define_flags, run)
