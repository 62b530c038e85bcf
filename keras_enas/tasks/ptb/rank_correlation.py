"""Rank correlation of a PTB search: shared-weight scores against training from scratch.

K arcs are sampled (from the search's trained controller, or uniformly), scored with the
shared weights on the same M validation minibatches, then each is trained from scratch
with a small budget. Kendall τ-b and Spearman ρ of the two perplexities (with bootstrap
95% intervals) say how far the search's ranking can be trusted (Yu et al. 2020 measured
τ ≈ 0 for ENAS on PTB). Resumable: the arcs and their shared-weight scores are fixed in
`arcs.json` on the first run; each finished training appends one line to `arcs.jsonl`
(and each training resumes from its own checkpoints), so the K trainings can be spread
over several runs.
"""

import dataclasses
import os

from keras_enas.config import base as config_base
from keras_enas.config import ptb as ptb_config
from keras_enas.config import ptb_final
from keras_enas.run import cluster
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import rank, runner
from keras_enas.search.rank import FIGURE, RANKING  # noqa: F401  (re-exported)
from keras_enas.search_spaces import rnn
from keras_enas.tasks.ptb import callbacks as cb
from keras_enas.tasks.ptb import search as run_ptb

__all__ = [
    "FIGURE",
    "load_ptb_search_config",
    "RANKING",
    "reopen_ptb_search",
    "run_ptb_rank_correlation",
    "train_from_scratch",
]


def load_ptb_search_config(search_workdir):
    """The `PTBSearchConfig` a search ran with, read from its `config.json`.

    Raises:
        FileNotFoundError: if `search_workdir` has no `config.json`.
        ValueError: naming the file, if it is not a PTB search config (corrupt, a JSON
            list, unknown keys, values of the wrong type or out of bounds).
    """
    path = os.path.join(search_workdir or "", "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"`search_workdir` must hold a search's config.json. "
            f"Received: search_workdir={search_workdir!r}"
        )
    d = workdir_lib.read_config(search_workdir)
    d["workdir"] = search_workdir  # where it is now, wherever it ran
    try:
        return config_base.from_dict(ptb_config.PTBSearchConfig, d)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


def reopen_ptb_search(search_config, vocab_size, reward_batches):
    """Builds the search of `search_config` and restores its newest checkpoint.

    Raises:
        FileNotFoundError: if the search's working directory has no checkpoint.
    """
    search = run_ptb.build_ptb_search(search_config, vocab_size, reward_batches)
    return runner.restore_search(search, search_config.workdir)


@cluster.chief_writes
def run_ptb_rank_correlation(
    config, search_config, reward_batches, train_ds, valid_tokens, test_tokens, vocab_size
):
    """Runs (or resumes) the study (`search.rank.rank_correlation`); writes `ranking.json`
    (`shared_valid_ppl` against `final_valid_ppl`) and `ranking.png`.

    Args:
        config: a `config.rank.RankCorrelationConfig` with `workdir` set.
        search_config: the search's config (`load_ptb_search_config`).
        reward_batches: validation minibatches `(x, y)` `(num_batches, B, T)` built with
            the search's `eval_batch_size` and `bptt` (the shared-weight scores use them).
        train_ds, valid_tokens, test_tokens, vocab_size: as `train.ptb.run_ptb_training`.

    Returns:
        The dict written to `ranking.json`.
    """
    del test_tokens  # the study ranks on validation data only
    workdir_lib.prepare(config.workdir, config.to_dict())
    space = rnn.RNNCellSpace(search_config.child.num_nodes, search_config.child.arc_format)

    def train(arc, index):
        del index
        return train_from_scratch(config, space, arc, train_ds, valid_tokens, vocab_size)["ppl"]

    return rank.rank_correlation(
        lambda: reopen_ptb_search(search_config, vocab_size, reward_batches),
        train,
        config.workdir,
        num_arcs=config.num_arcs,
        arc_source=config.arc_source,
        score_num_batches=config.score_num_batches,
        metric="valid_ppl",
        bootstrap_resamples=config.bootstrap_resamples,
        seed=config.seed,
        details={
            "search_workdir": search_config.workdir,
            "train_budget": dataclasses.asdict(config.train),
        },
    )


def train_from_scratch(config, space, arc, train_ds, valid_tokens, vocab_size):
    """Trains `arc`'s fixed LM with the `config.train` budget; whole-split validation.

    Returns:
        `evaluate.perplexity`'s dict (`ppl`, `loss`, `num_tokens`).
    """
    import keras

    from keras_enas.run import progress
    from keras_enas.tasks.ptb import evaluate
    from keras_enas.tasks.ptb import train as train_lib

    t = config.train
    final = ptb_final.PTBFinalConfig(
        child=config.child, train=t, eval=config.eval, cell="enas", seed=config.seed
    )
    keras.utils.set_random_seed(config.seed)
    lm = train_lib.build_ptb_model(final, vocab_size, space, arc)
    trainer = train_lib.build_trainer(final, lm)
    trainer.fit(
        train_ds.repeat() if t.steps_per_epoch else train_ds,
        epochs=t.num_epochs,
        steps_per_epoch=t.steps_per_epoch or None,
        verbose=0,
        callbacks=[
            cb.ResetStates(),
            cb.EpochDecay(t.learning_rate, t.lr_decay, t.lr_decay_start),
            progress.Progress(t.log_every_secs),
        ],
    )
    return evaluate.perplexity(lm, valid_tokens, config.eval.batch_size, config.eval.bptt)
