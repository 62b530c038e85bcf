r"""Measure how well a PTB search's shared weights rank architectures (Kendall tau, Spearman rho).

Samples --num_arcs arcs from the search's controller (or uniformly), scores each with the
shared weights on the same --score_num_batches validation minibatches, trains each from
scratch with the --train_* budget, and writes ranking.json and ranking.png into --workdir.

Example:
    rank_correlation --flagfile=configs/rank_correlation_smoke.flags \
        --search_workdir=runs/ptb_smoke --data_dir=../shared/data/ptb --workdir=runs/rank_smoke

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
        from keras_enas.tasks.ptb import rank_correlation  # TensorFlow once the flags are good

        search_config = rank_correlation.load_ptb_search_config(config.search_workdir)
        from keras_enas.data import ptb

        data = ptb.load_ptb(config.data_dir)
        c, t = search_config.child, config.train
        data.require_minibatch(
            "train", t.batch_size, t.bptt, ("--train_batch_size", "--train_bptt")
        )
        data.require_minibatch(
            "valid", c.eval_batch_size, c.bptt, ("the search's eval_batch_size", "bptt")
        )
        from keras_enas.run import workdir

        workdir.make_workdir(config.workdir)
    except (ValueError, FileNotFoundError) as e:
        print(f"rank_correlation: error: {e}", file=sys.stderr)
        return 2
    logging.info("PTB: vocabulary %d; search %s", data.vocab_size, config.search_workdir)
    ranking = rank_correlation.run_ptb_rank_correlation(
        config,
        search_config,
        reward_batches=ptb.lm_batches(data.valid, c.eval_batch_size, c.bptt),
        train_ds=ptb.lm_dataset(data.train, t.batch_size, t.bptt),
        valid_tokens=data.valid,
        test_tokens=data.test,
        vocab_size=data.vocab_size,
    )
    for name in ("kendall_tau", "spearman_rho"):
        r = ranking[name]
        print(f"{name} = {r['value']:.3f}  95% CI [{r['low']:.3f}, {r['high']:.3f}]")
    print(f"Wrote {os.path.join(config.workdir, rank_correlation.RANKING)}")
    return 0


def main():
    """The `rank_correlation` command."""
    common.start(__doc__, define_flags, run)
