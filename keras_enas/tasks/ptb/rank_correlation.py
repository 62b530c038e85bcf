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
import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from keras_enas import rank_stats
from keras_enas.config import base as config_base
from keras_enas.config import ptb as ptb_config
from keras_enas.config import ptb_final
from keras_enas.run import files
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import runner
from keras_enas.tasks.ptb import callbacks as cb
from keras_enas.tasks.ptb import search as run_ptb

__all__ = [
    "ARCS",
    "FIGURE",
    "load_ptb_search_config",
    "RANKING",
    "RECORDS",
    "reopen_ptb_search",
    "run_ptb_rank_correlation",
    "sample_arcs",
    "train_from_scratch",
    "write_ranking",
]

ARCS, RECORDS, RANKING, FIGURE = "arcs.json", "arcs.jsonl", "ranking.json", "ranking.png"


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
    manager = workdir_lib.checkpoint_manager(
        search_config.workdir, **runner.search_trackables(search)
    )
    if not workdir_lib.restore_latest(manager):
        raise FileNotFoundError(
            f"No checkpoint in {search_config.workdir}/checkpoints: run (part of) the search first."
        )
    return search


def sample_arcs(search, num_arcs, source, seed):
    """`num_arcs` distinct arcs from the controller or uniformly (fewer if the space is
    too small or the policy too peaked to give that many in 100 × num_arcs draws)."""
    arcs, seen = [], set()
    rng = np.random.default_rng(seed)
    sample = tf.function(search.controller.sample)
    for _ in range(100 * num_arcs):
        arc = search.space.random_arc(rng) if source == "uniform" else sample()[0].numpy()
        if arc.tobytes() not in seen:
            seen.add(arc.tobytes())
            arcs.append(np.asarray(arc, np.int32))
        if len(arcs) == num_arcs:
            break
    return arcs


def _fixed_arcs(config, search_config, vocab_size, reward_batches):
    """The study's arcs and shared-weight scores: from `arcs.json`, or made and saved."""
    path = os.path.join(config.workdir, ARCS)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    search = reopen_ptb_search(search_config, vocab_size, reward_batches)
    arcs = sample_arcs(search, config.num_arcs, config.arc_source, config.seed)
    scores = search.score_arcs(arcs, "minibatch", num_batches=config.score_num_batches)
    record = {
        "search_workdir": search_config.workdir,
        "arc_source": config.arc_source,
        "score_num_batches": config.score_num_batches,
        "arcs": [
            {"index": i, "arc": search.space.format_arc(a), "shared_valid_ppl": s["valid_ppl"]}
            for i, (a, s) in enumerate(zip(arcs, scores))
        ],
    }
    files.write_json(path, record)
    return record


def run_ptb_rank_correlation(
    config, search_config, reward_batches, train_ds, valid_tokens, test_tokens, vocab_size
):
    """Runs (or resumes) the study; writes `ranking.json` and `ranking.png`.

    Args:
        config: a `config.rank.RankCorrelationConfig` with `workdir` set.
        search_config: the search's config (`load_ptb_search_config`).
        reward_batches: validation minibatches `(x, y)` `(num_batches, B, T)` built with
            the search's `eval_batch_size` and `bptt` (the shared-weight scores use them).
        train_ds, valid_tokens, test_tokens, vocab_size: as `train.ptb.run_ptb_training`.

    Returns:
        The dict written to `ranking.json`.
    """
    from keras_enas.search_spaces import rnn

    workdir_lib.prepare(config.workdir, config.to_dict())
    fixed = _fixed_arcs(config, search_config, vocab_size, reward_batches)
    c = search_config.child
    space = rnn.RNNCellSpace(c.num_nodes, c.arc_format)
    done = _read_records(os.path.join(config.workdir, RECORDS))
    for item in fixed["arcs"]:
        if item["index"] in done:
            continue
        logging.info(
            "Training arc %d/%d from scratch: %s",
            item["index"] + 1,
            len(fixed["arcs"]),
            item["arc"],
        )
        start = time.time()
        valid = train_from_scratch(
            config, space, space.parse(item["arc"]), train_ds, valid_tokens, vocab_size
        )
        record = {
            **item,
            "final_valid_ppl": valid["ppl"],
            "train_seconds": round(time.time() - start, 1),
        }
        with open(os.path.join(config.workdir, RECORDS), "a") as f:
            f.write(json.dumps(record) + "\n")
        done[item["index"]] = record
    return write_ranking(config, fixed, [done[i] for i in sorted(done)])


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


def _read_records(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["index"]: r for r in records}


def write_ranking(config, fixed, records):
    """Computes the coefficients of `records`, writes `ranking.json` and `ranking.png`."""
    shared = [r["shared_valid_ppl"] for r in records]
    final = [r["final_valid_ppl"] for r in records]
    stats = rank_stats.rank_correlations(
        shared, final, config.bootstrap_resamples, seed=config.seed
    )
    ranking = {
        **stats,
        "x": "shared_valid_ppl",
        "y": "final_valid_ppl",
        "arc_source": fixed["arc_source"],
        "score_num_batches": fixed["score_num_batches"],
        "search_workdir": fixed["search_workdir"],
        "train_budget": dataclasses.asdict(config.train),
        "pairs": records,
        "note": "Positive tau: the shared weights rank the arcs as training from scratch "
        "does (both are perplexities, lower is better).",
    }
    files.write_json(os.path.join(config.workdir, RANKING), ranking)
    _scatter(os.path.join(config.workdir, FIGURE), shared, final, stats)
    return ranking


def _scatter(path, shared, final, stats):
    from matplotlib import figure as mpl_figure

    fig = mpl_figure.Figure(figsize=(4.5, 4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(shared, final, s=18)
    ax.set_xlabel("shared-weight validation perplexity")
    ax.set_ylabel("validation perplexity, trained from scratch")
    tau, rho = stats["kendall_tau"], stats["spearman_rho"]
    ax.set_title(
        f"τ = {tau['value']:.2f} [{tau['low']:.2f}, {tau['high']:.2f}]   "
        f"ρ = {rho['value']:.2f} [{rho['low']:.2f}, {rho['high']:.2f}]",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
