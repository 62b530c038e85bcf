"""Deriving the final architecture (ENAS §2.2 "Deriving Architectures", reference §5).

Sample several arcs from the trained policy (or uniformly, for random search), score
each on validation data, keep the best; it is then retrained from scratch.
"""

import numpy as np
import tensorflow as tf


def derive(search, num_samples, scoring="minibatch"):
    """Samples `num_samples` arcs and ranks the distinct ones by validation score.

    Args:
        search: an `ENASSearch` subclass with `score_arcs(arcs, scoring)`.
        num_samples: how many arcs to sample.
        scoring: `"minibatch"` (one validation minibatch, the same for every arc, as in
            the paper) or `"full"` (the whole validation split).

    Returns:
        A list of dicts `{"arc": np.ndarray, **scores}`, best first (highest reward).
    """
    if num_samples < 1:
        raise ValueError(f"`num_samples` must be >= 1. Received: num_samples={num_samples}")
    sample = tf.function(search.sample_arc)
    arcs, seen = [], set()
    for _ in range(num_samples):
        arc = sample().numpy()
        if arc.tobytes() not in seen:
            seen.add(arc.tobytes())
            arcs.append(arc)
    scores = search.score_arcs(arcs, scoring)
    ranked = [dict(arc=arc, **score) for arc, score in zip(arcs, scores)]
    ranked.sort(key=lambda r: -r["reward"])
    return ranked


def pick_batch(num_batches, seed):
    """Index of the validation minibatch every derived arc is scored on."""
    return int(np.random.default_rng(seed).integers(num_batches))
