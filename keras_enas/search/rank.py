"""Rank correlation of any search: do the shared weights rank arcs as training from scratch?

K arcs are sampled (from the search's controller, or uniformly), scored with the shared
weights on the same M validation minibatches, then each is trained from scratch by a
caller-given function. Kendall τ-b and Spearman ρ of the two scores (with bootstrap 95%
intervals) say how far the search's ranking can be trusted (Yu et al. 2020 measured
τ ≈ 0 for ENAS on PTB). Resumable: the arcs and their shared-weight scores are fixed in
`arcs.json` on the first run; each finished training appends one line to `arcs.jsonl`,
so the K trainings can be spread over several runs (or machines, by merging the lines).
"""

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from keras_enas import rank_stats
from keras_enas.run import files

__all__ = [
    "ARCS",
    "FIGURE",
    "RANKING",
    "RECORDS",
    "rank_correlation",
    "sample_arcs",
    "write_ranking",
]

ARCS, RECORDS, RANKING, FIGURE = "arcs.json", "arcs.jsonl", "ranking.json", "ranking.png"


def sample_arcs(search, num_arcs, source, seed):
    """`num_arcs` distinct arcs from the controller or uniformly (fewer if the space is
    too small or the policy too peaked to give that many in 100 × num_arcs draws)."""
    arcs, seen = [], set()
    rng = np.random.default_rng(seed)
    sample = tf.function(search.controller.sample) if source == "controller" else None
    for _ in range(100 * num_arcs):
        arc = search.space.random_arc(rng) if source == "uniform" else sample()[0].numpy()
        if arc.tobytes() not in seen:
            seen.add(arc.tobytes())
            arcs.append(np.asarray(arc, np.int32))
        if len(arcs) == num_arcs:
            break
    return arcs


def rank_correlation(
    search: Any,
    train_fn: Callable[[np.ndarray, int], float],
    workdir: str,
    num_arcs: int = 12,
    arc_source: str = "controller",
    score_num_batches: int = 10,
    metric: str = "reward",
    final_metric: str | None = None,
    bootstrap_resamples: int = 2000,
    seed: int = 0,
    details: dict | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) a rank-correlation study; writes `ranking.json` and `ranking.png`.

    Args:
        search: an `ENASSearch` with its validation data (e.g. a `keras_enas.ENAS` after
            `fit`, or a reopened built-in search), or a callable returning one (called
            only if `arcs.json` does not exist yet). Its `score_arcs` gives the shared
            scores.
        train_fn: `(arc np.ndarray, index) -> float`: trains the arc from scratch with
            the study's budget and returns its score. It must point the same way as
            `metric` (both higher-better or both lower-better), so that τ > 0 means the
            shared weights rank the arcs as training does.
        workdir: the study's directory (`arcs.json`, `arcs.jsonl`, `ranking.json`,
            `ranking.png`); an existing one is resumed.
        num_arcs: arcs K (≥ 2).
        arc_source: `"controller"` or `"uniform"`.
        score_num_batches: validation minibatches M (the same for every arc).
        metric: key of `search.score_arcs`'s dicts used as the shared score
            (`"valid_ppl"` for PTB, `"accuracy"` for CIFAR, `"reward"` for any).
        final_metric: name of `train_fn`'s score in the records (default `metric`).
        bootstrap_resamples: resamples for the 95% intervals.
        seed: seed of the arc sampling and the bootstrap.
        details: extra JSON fields for `ranking.json` (e.g. the training budget).

    Returns:
        The dict written to `ranking.json`.

    Raises:
        ValueError: if `num_arcs` < 2, `arc_source` is unknown, or `metric` is not a
            key of the search's scores.

    Example (a user space; `train_fn` trains the fixed model briefly, returns accuracy):

    ```python
    def train_fn(arc, index):
        model = keras_enas.fixed_model(supernet, search.space.decode(arc).to_dict())
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=1, verbose=0)
        return model.evaluate(x_valid, y_valid, verbose=0)[1]

    ranking = keras_enas.rank_correlation(search, train_fn, "runs/rank", num_arcs=12)
    ranking["kendall_tau"]  # {"value": ..., "low": ..., "high": ...}
    ```
    """
    if not isinstance(num_arcs, int) or num_arcs < 2:
        raise ValueError(f"`num_arcs` must be an int >= 2. Received: num_arcs={num_arcs!r}")
    if arc_source not in ("controller", "uniform"):
        raise ValueError(
            f"`arc_source` must be 'controller' or 'uniform'. Received: arc_source={arc_source!r}"
        )
    os.makedirs(workdir, exist_ok=True)
    final_metric = final_metric or metric
    fixed, space = _fixed_arcs(
        workdir, search, num_arcs, arc_source, score_num_batches, metric, seed
    )
    done = _read_records(os.path.join(workdir, RECORDS))
    for item in fixed["arcs"]:
        if item["index"] in done:
            continue
        logging.info(
            "Training arc %d/%d from scratch: %s", item["index"] + 1, num_arcs, item["arc"]
        )
        start = time.time()
        final = float(train_fn(space.parse(item["arc"]), item["index"]))
        record = {
            **item,
            f"final_{final_metric}": final,
            "train_seconds": round(time.time() - start, 1),
        }
        with open(os.path.join(workdir, RECORDS), "a") as f:
            f.write(json.dumps(record) + "\n")
        done[item["index"]] = record
    records = [done[i] for i in sorted(done)]
    x, y = f"shared_{fixed['metric']}", f"final_{final_metric}"
    return write_ranking(workdir, fixed, records, x, y, bootstrap_resamples, seed, details)


def _fixed_arcs(workdir, search, num_arcs, source, num_batches, metric, seed):
    """The study's arcs and shared scores: from `arcs.json`, or sampled, scored and saved.

    Returns:
        `(record, space)`.
    """
    path = os.path.join(workdir, ARCS)
    if os.path.exists(path):
        record = files.read_json(path)
        from keras_enas.search_spaces import get_space

        return record, get_space(record["search_space"], **record["space_config"])
    search = search() if callable(search) and not hasattr(search, "score_arcs") else search
    arcs = sample_arcs(search, num_arcs, source, seed)
    scores = search.score_arcs(arcs, "minibatch", num_batches=num_batches)
    if metric not in scores[0]:
        raise ValueError(
            f"`metric` must be one of the search's scores {sorted(scores[0])}. "
            f"Received: metric={metric!r}"
        )
    space = search.space
    record = {
        "search_space": space.name,
        "space_config": space.get_config(),
        "arc_source": source,
        "score_num_batches": num_batches,
        "metric": metric,
        "arcs": [
            {"index": i, "arc": space.format_arc(a), f"shared_{metric}": s[metric]}
            for i, (a, s) in enumerate(zip(arcs, scores))
        ],
    }
    files.write_json(path, record)
    return record, space


def _read_records(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["index"]: r for r in records}


def write_ranking(workdir, fixed, records, x, y, bootstrap_resamples, seed, details=None):
    """Computes τ and ρ of `records[x]` against `records[y]`, writes `ranking.json` and
    `ranking.png` into `workdir`; returns the dict."""
    shared = [r[x] for r in records]
    final = [r[y] for r in records]
    stats = rank_stats.rank_correlations(shared, final, bootstrap_resamples, seed=seed)
    ranking = {
        **stats,
        "x": x,
        "y": y,
        "search_space": fixed.get("search_space"),
        "arc_source": fixed["arc_source"],
        "score_num_batches": fixed["score_num_batches"],
        **(details or {}),
        "pairs": records,
        "note": f"Positive tau: the shared weights rank the arcs as training from scratch "
        f"does ({x} and {y} point the same way).",
    }
    files.write_json(os.path.join(workdir, RANKING), ranking)
    _scatter(os.path.join(workdir, FIGURE), shared, final, stats, x, y)
    return ranking


def _scatter(path, shared, final, stats, x, y):
    from matplotlib import figure as mpl_figure

    fig = mpl_figure.Figure(figsize=(4.5, 4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(shared, final, s=18)
    ax.set_xlabel(f"{x} (shared weights)", fontsize=8)
    ax.set_ylabel(f"{y} (trained from scratch)", fontsize=8)
    tau, rho = stats["kendall_tau"], stats["spearman_rho"]
    ax.set_title(
        f"τ = {tau['value']:.2f} [{tau['low']:.2f}, {tau['high']:.2f}]   "
        f"ρ = {rho['value']:.2f} [{rho['low']:.2f}, {rho['high']:.2f}]   K = {len(shared)}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
