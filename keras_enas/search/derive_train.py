"""Deriving with less noise: train the top k derived arcs briefly from scratch, keep the best.

The shared weights rank arcs poorly (Yu et al. 2020); a short training of each of the
top k arcs from fresh weights is a cheaper check than a full final training. The arcs are
trained in a fresh copy of the search's own child model (fresh weights from the search's
seed, the search's optimizer settings), on the fixed arc only — for the arc's weights
this is training its fixed network — then scored like the derive (`score_arcs`).
"""

import tensorflow as tf
from absl import logging

__all__ = ["train_top_k"]


def train_top_k(build_search, ranked, top_k, num_steps, train_ds, scoring, num_batches):
    """Re-ranks the first `top_k` of `ranked` by their score after `num_steps` minibatches
    of training from scratch.

    Args:
        build_search: `() -> ENASSearch`: builds a fresh search like the one that ran
            (same config and seed, untrained).
        ranked: `derive.derive`'s list, best first.
        top_k: how many of the best to train.
        num_steps: training minibatches per arc (each arc starts from the same fresh
            weights and optimizer state).
        train_ds: `tf.data.Dataset` of `(x, y)` training minibatches.
        scoring, num_batches: as `derive.derive` (the same validation minibatches).

    Returns:
        The top `top_k` re-ranked by `from_scratch_reward` (each with `from_scratch_*`
        scores added), then the rest of `ranked` unchanged.
    """
    fresh = build_search()
    variables = list(fresh.child.variables) + list(fresh.optimizer.variables)
    initial = [v.numpy() for v in variables]
    step = tf.function(fresh.child_train_step)
    trained = []
    for index, item in enumerate(ranked[:top_k]):
        for v, value in zip(variables, initial):
            v.assign(value)
        if hasattr(fresh, "reset_states"):
            fresh.reset_states()
        arc = tf.constant(item["arc"])
        for x, y in train_ds.take(num_steps):
            step(x, y, arc)
        score = fresh.score_arcs([item["arc"]], scoring, num_batches=num_batches)[0]
        logging.info(
            "Derive: top arc %d/%d after %d steps from scratch: %s",
            index + 1,
            min(top_k, len(ranked)),
            num_steps,
            score,
        )
        trained.append({**item, **{f"from_scratch_{k}": v for k, v in score.items()}})
    trained.sort(key=lambda r: -r["from_scratch_reward"])
    return trained + list(ranked[top_k:])
