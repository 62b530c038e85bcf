"""Deriving the final architecture (ENAS §2.2 "Deriving Architectures", reference §5).

Sample several arcs from the trained policy (or uniformly, for random search), score
each on validation data, keep the best; it is then retrained from scratch.
"""

from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["derive", "pick_batch", "pick_batches"]


def derive(
    search: Any, num_samples: int, scoring: str = "minibatch", num_batches: int = 1
) -> list[dict[str, Any]]:
    """Samples `num_samples` arcs and ranks the distinct ones by validation score.

    Args:
        search: an `ENASSearch` subclass with `score_arcs(arcs, scoring, num_batches=)`.
        num_samples: how many arcs to sample.
        scoring: `"minibatch"` (validation minibatches, the same for every arc; the
            paper uses one) or `"full"` (the whole validation split).
        num_batches: with `"minibatch"`, how many validation minibatches (the same M
            for every arc) each arc is scored on; more is less noisy.

    Returns:
        A list of dicts `{"arc": np.ndarray, **scores}`, best first (highest reward).

    Raises:
        ValueError: if `num_samples` or `num_batches` is < 1.
    """
    if num_samples < 1:
        raise ValueError(f"`num_samples` must be >= 1. Received: num_samples={num_samples}")
    if not isinstance(num_batches, int) or num_batches < 1:
        raise ValueError(f"`num_batches` must be an int >= 1. Received: num_batches={num_batches}")
    sample = tf.function(search.sample_arc)
    arcs, seen = [], set()
    for _ in range(num_samples):
        arc = sample().numpy()
        if arc.tobytes() not in seen:
            seen.add(arc.tobytes())
            arcs.append(arc)
    scores = search.score_arcs(arcs, scoring, num_batches=num_batches)
    ranked = [dict(arc=arc, **score) for arc, score in zip(arcs, scores)]
    ranked.sort(key=lambda r: -r["reward"])
    return ranked


def pick_batch(num_batches, seed):
    """Index of the validation minibatch every derived arc is scored on."""
    return int(np.random.default_rng(seed).integers(num_batches))


def pick_batches(available, count, seed):
    """Indices of the `min(count, available)` distinct validation minibatches arcs are
    scored on (the first is `pick_batch(available, seed)`, so count = 1 is unchanged)."""
    first = pick_batch(available, seed)
    rest = np.random.default_rng(seed + 1).permutation([i for i in range(available) if i != first])
    return [first] + [int(i) for i in rest[: max(0, min(count, available) - 1)]]
