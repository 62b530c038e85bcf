"""Tests for the space-agnostic rank-correlation study (`keras_enas.rank_correlation`)."""

import json

import numpy as np
import pytest

import keras_enas
from keras_enas.search_spaces import get_space


class FakeSearch:
    """A search whose shared score of an arc is the sum of its tokens (no TensorFlow)."""

    def __init__(self, name="micro", **options):
        self.space = get_space(name, **options)
        self.scored = 0

    def score_arcs(self, arcs, scoring, num_batches=1):
        assert scoring == "minibatch" and num_batches == 3
        self.scored += len(arcs)
        return [{"reward": float(np.sum(a)), "accuracy": float(np.sum(a)) / 100} for a in arcs]


def _study(tmp_path, train_fn, search=None, **kwargs):
    return keras_enas.rank_correlation(
        search or FakeSearch(),
        train_fn,
        str(tmp_path),
        num_arcs=6,
        arc_source="uniform",
        score_num_batches=3,
        bootstrap_resamples=100,
        **kwargs,
    )


def test_agreeing_and_reversed_training_give_tau_one_and_minus_one(tmp_path):
    agree = _study(tmp_path / "a", lambda arc, i: 2.0 * np.sum(arc) + 1)
    assert agree["kendall_tau"]["value"] == pytest.approx(1.0)
    assert agree["spearman_rho"]["value"] == pytest.approx(1.0)
    assert agree["kendall_tau"]["low"] == pytest.approx(1.0)  # every resample agrees
    reverse = _study(tmp_path / "r", lambda arc, i: -float(np.sum(arc)))
    assert reverse["kendall_tau"]["value"] == pytest.approx(-1.0)
    assert reverse["spearman_rho"]["high"] == pytest.approx(-1.0)
    assert len(agree["pairs"]) == 6 and len({p["arc"] for p in agree["pairs"]}) == 6
    assert agree["x"] == "shared_reward" and agree["y"] == "final_reward"
    written = json.loads((tmp_path / "a" / "ranking.json").read_text())
    assert written["search_space"] == "micro" and written["pairs"] == agree["pairs"]
    assert (tmp_path / "a" / "ranking.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_trains_only_the_missing_arcs(tmp_path):
    calls = []

    def train(arc, index):
        calls.append(index)
        return float(np.sum(arc))

    search = FakeSearch("macro", num_layers=4)
    first = _study(tmp_path, train, search, metric="accuracy", final_metric="valid_accuracy")
    assert calls == list(range(6)) and search.scored == 6
    assert set(first["pairs"][0]) >= {"shared_accuracy", "final_valid_accuracy", "arc"}
    lines = (tmp_path / "arcs.jsonl").read_text().splitlines()
    (tmp_path / "arcs.jsonl").write_text("\n".join(lines[:4]) + "\n")
    # No search needed on resume: the arcs and their shared scores are in arcs.json.
    again = _study(
        tmp_path,
        train,
        lambda: pytest.fail("search reopened"),
        metric="accuracy",
        final_metric="valid_accuracy",
    )
    assert calls == list(range(6)) + [4, 5]
    assert again["pairs"] == first["pairs"] or [p["arc"] for p in again["pairs"]] == [
        p["arc"] for p in first["pairs"]
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_arcs": 1}, "num_arcs"),
        ({"arc_source": "best"}, "arc_source"),
        ({"metric": "valid_ppl"}, "metric"),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path, kwargs, message):
    args = dict(num_arcs=4, arc_source="uniform", score_num_batches=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        keras_enas.rank_correlation(FakeSearch(), lambda a, i: 0.0, str(tmp_path), **args)
