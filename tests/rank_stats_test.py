"""Tests for keras_enas.rank_stats: closed cases by hand, ties, bootstrap, bad inputs."""

import math

import numpy as np
import pytest

from keras_enas import rank_stats


def test_identical_and_reversed_rankings():
    x = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    assert rank_stats.kendall_tau(x, x) == pytest.approx(1.0)
    assert rank_stats.spearman_rho(x, x) == pytest.approx(1.0)
    reversed_y = [-v for v in x]
    assert rank_stats.kendall_tau(x, reversed_y) == pytest.approx(-1.0)
    assert rank_stats.spearman_rho(x, reversed_y) == pytest.approx(-1.0)
    # Monotone transforms keep ranks: τ and ρ are 1.
    assert rank_stats.kendall_tau(x, np.exp(x)) == pytest.approx(1.0)


def test_hand_computed_case_without_ties():
    # Pairs (1,2)+, (1,3)+, (2,3)-: C = 2, D = 1, tau = 1/3.
    assert rank_stats.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # Ranks differ by d = (0, 1, -1): rho = 1 - 6·2 / (3·8) = 0.5.
    assert rank_stats.spearman_rho([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_hand_computed_case_with_ties():
    x, y = [1, 2, 2, 3], [1, 3, 2, 4]
    # Pairs: (0,1)+ (0,2)+ (0,3)+ (1,2) tied in x, (1,3)+ (2,3)+ -> C = 5, D = 0,
    # n0 = 6, n1 = 1 (x ties), n2 = 0: tau_b = 5 / sqrt(5 · 6).
    assert rank_stats.kendall_tau(x, y) == pytest.approx(5 / math.sqrt(30))
    # Average ranks of x: 1, 2.5, 2.5, 4; y: 1, 3, 2, 4; Pearson of those.
    np.testing.assert_allclose(rank_stats.average_ranks(x), [1, 2.5, 2.5, 4])
    rx, ry = np.array([1, 2.5, 2.5, 4]) - 2.5, np.array([1, 3, 2, 4]) - 2.5
    expected = np.sum(rx * ry) / math.sqrt(np.sum(rx**2) * np.sum(ry**2))
    assert rank_stats.spearman_rho(x, y) == pytest.approx(expected)
    assert expected == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def test_constant_sequence_gives_nan():
    assert math.isnan(rank_stats.kendall_tau([1, 1, 1], [1, 2, 3]))
    assert math.isnan(rank_stats.spearman_rho([1, 2, 3], [5, 5, 5]))


def test_bootstrap_interval_closed_cases():
    x = np.arange(10.0)
    # Every resample of a perfect ranking is perfect (or all-tied, which is dropped).
    assert rank_stats.bootstrap_interval(rank_stats.kendall_tau, x, x) == (1.0, 1.0)
    assert rank_stats.bootstrap_interval(rank_stats.spearman_rho, x, -x) == (-1.0, -1.0)


def test_bootstrap_interval_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 400):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        result = rank_stats.rank_correlations(x, y, num_resamples=300, seed=1)
        for name in ("kendall_tau", "spearman_rho"):
            r = result[name]
            assert r["low"] <= r["value"] <= r["high"]
        widths.append(result["kendall_tau"]["high"] - result["kendall_tau"]["low"])
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(n): 20x the pairs, ~4.5x narrower
    assert result["num_pairs"] == 400 and result["level"] == 0.95


def test_bootstrap_is_seeded():
    x, y = [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]
    a = rank_stats.bootstrap_interval(rank_stats.kendall_tau, x, y, 200, seed=3)
    b = rank_stats.bootstrap_interval(rank_stats.kendall_tau, x, y, 200, seed=3)
    assert a == b


@pytest.mark.parametrize(
    "x, y, message",
    [
        ([1, 2], [1, 2, 3], "equal length"),
        ([1], [1], "At least 2 pairs"),
        ([1, float("nan")], [1, 2], "finite"),
    ],
)
def test_bad_data_raises(x, y, message):
    with pytest.raises(ValueError, match=message):
        rank_stats.kendall_tau(x, y)
    with pytest.raises(ValueError, match=message):
        rank_stats.spearman_rho(x, y)


def test_bad_bootstrap_arguments_raise():
    with pytest.raises(ValueError, match="num_resamples"):
        rank_stats.bootstrap_interval(rank_stats.kendall_tau, [1, 2], [1, 2], 0)
    with pytest.raises(ValueError, match="level"):
        rank_stats.bootstrap_interval(rank_stats.kendall_tau, [1, 2], [1, 2], 10, level=1.0)
