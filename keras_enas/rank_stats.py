"""Rank correlation in pure numpy: Kendall τ-b, Spearman ρ, and bootstrap intervals."""

import numpy as np

__all__ = [
    "average_ranks",
    "bootstrap_interval",
    "kendall_tau",
    "rank_correlations",
    "spearman_rho",
]


def _pairs(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"`x` and `y` must be 1-D and of equal length. Received shapes: {x.shape} and {y.shape}"
        )
    if len(x) < 2:
        raise ValueError(f"At least 2 pairs are needed. Received: {len(x)} pairs")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("`x` and `y` must be finite (no NaN or inf).")
    return x, y


def kendall_tau(x, y):
    """Kendall's τ-b (ties corrected): `(C − D) / sqrt((n0 − n1)(n0 − n2))`.

    `C`/`D` count concordant/discordant pairs, `n0 = n(n−1)/2`, `n1`/`n2` the pairs
    tied in `x`/`y`. O(n²) memory and time: meant for tens to a few thousand arcs.

    Args:
        x, y: 1-D sequences of equal length ≥ 2, finite.

    Returns:
        τ-b in [-1, 1], or NaN if either sequence is constant.

    Raises:
        ValueError: on mismatched shapes, fewer than 2 pairs, or non-finite values.

    Example:

    >>> kendall_tau([1, 2, 3], [1, 3, 2])   # 2 concordant, 1 discordant
    0.333...
    """
    x, y = _pairs(x, y)
    upper = np.triu_indices(len(x), k=1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    n0 = len(dx)
    n1, n2 = np.sum(dx == 0), np.sum(dy == 0)
    denominator = np.sqrt(float(n0 - n1) * float(n0 - n2))
    return float(np.sum(dx * dy) / denominator) if denominator > 0 else float("nan")


def average_ranks(x):
    """Ranks 1..n of `x`, ties given the mean of the ranks they span."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman_rho(x, y):
    """Spearman's ρ: the Pearson correlation of the average ranks (ties handled).

    Args:
        x, y: 1-D sequences of equal length ≥ 2, finite.

    Returns:
        ρ in [-1, 1], or NaN if either sequence is constant.

    Raises:
        ValueError: as `kendall_tau`.
    """
    x, y = _pairs(x, y)
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt(np.sum(rx * rx) * np.sum(ry * ry))
    return float(np.sum(rx * ry) / denominator) if denominator > 0 else float("nan")


def bootstrap_interval(statistic, x, y, num_resamples=2000, level=0.95, seed=0):
    """Percentile bootstrap interval of `statistic(x, y)`, resampling pairs.

    Resamples where the statistic is undefined (NaN, e.g. all pairs tied) are dropped.

    Args:
        statistic: `(x, y) -> float`, e.g. `kendall_tau`.
        x, y: 1-D sequences of equal length ≥ 2, finite.
        num_resamples: bootstrap resamples (≥ 1).
        level: coverage of the interval, in (0, 1).
        seed: seed of the resampling.

    Returns:
        `(low, high)`, or `(nan, nan)` if no resample is defined.

    Raises:
        ValueError: on bad `num_resamples` or `level`, or bad data as `kendall_tau`.
    """
    x, y = _pairs(x, y)
    if not isinstance(num_resamples, int) or num_resamples < 1:
        raise ValueError(
            f"`num_resamples` must be an int >= 1. Received: num_resamples={num_resamples}"
        )
    if not 0 < level < 1:
        raise ValueError(f"`level` must be in (0, 1). Received: level={level}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_resamples):
        index = rng.integers(0, len(x), len(x))
        values.append(statistic(x[index], y[index]))
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def rank_correlations(x, y, num_resamples=2000, level=0.95, seed=0):
    """Kendall τ-b and Spearman ρ of `x` against `y`, each with a bootstrap interval.

    Returns:
        `{"kendall_tau": {"value", "low", "high"}, "spearman_rho": {...}, "num_pairs",
        "level"}`.

    Example:

    >>> rank_correlations(shared_weight_scores, retrained_scores)["kendall_tau"]["value"]
    """
    out = {"num_pairs": len(np.asarray(x)), "level": level}
    for name, statistic in (("kendall_tau", kendall_tau), ("spearman_rho", spearman_rho)):
        low, high = bootstrap_interval(statistic, x, y, num_resamples, level, seed)
        out[name] = {"value": statistic(x, y), "low": low, "high": high}
    return out
