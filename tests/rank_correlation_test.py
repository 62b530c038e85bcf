"""Tests for the PTB rank-correlation study: reopen a search, rank, resume per arc, bin."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ptb_test_utils import synthetic_inputs, tiny_config

from keras_enas.config import ptb_final, rank
from keras_enas.tasks.ptb import rank_correlation
from keras_enas.tasks.ptb import search as run_ptb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _study(tmp_path, **fields):
    return rank.RankCorrelationConfig(
        child=ptb_final.FinalModelConfig(hidden_size=8),
        train=ptb_final.FinalTrainConfig(num_epochs=1, steps_per_epoch=2, batch_size=4, bptt=5),
        eval=ptb_final.FinalEvalConfig(batch_size=4, bptt=5),
        search_workdir=str(tmp_path / "search"),
        workdir=str(tmp_path / "rank"),
        num_arcs=4,
        score_num_batches=2,
        bootstrap_resamples=50,
        **fields,
    )


def test_study_ranks_resumes_and_reopens_the_search(tmp_path):
    search_config = tiny_config(str(tmp_path / "search"), num_epochs=1)
    inputs = synthetic_inputs(search_config)
    run_ptb.run_ptb_search(search_config, **inputs)
    loaded = rank_correlation.load_ptb_search_config(str(tmp_path / "search"))
    assert loaded == search_config
    # Reopened: the controller is the trained one (its weights match the checkpoint's).
    search = rank_correlation.reopen_ptb_search(
        loaded, inputs["vocab_size"], inputs["reward_batches"]
    )
    fresh = run_ptb.build_ptb_search(loaded, inputs["vocab_size"], inputs["reward_batches"])
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(search.controller.get_weights(), fresh.controller.get_weights())
    )
    config = _study(tmp_path)
    args = dict(
        reward_batches=inputs["reward_batches"],
        train_ds=inputs["train_ds"],
        valid_tokens=np.arange(400) % 50,
        test_tokens=None,
        vocab_size=inputs["vocab_size"],
    )
    ranking = rank_correlation.run_ptb_rank_correlation(config, loaded, **args)
    assert ranking["num_pairs"] == 4 and len(ranking["pairs"]) == 4
    for name in ("kendall_tau", "spearman_rho"):
        r = ranking[name]
        assert -1 <= r["value"] <= 1 and r["low"] <= r["high"]
    written = json.loads((tmp_path / "rank" / "ranking.json").read_text())
    assert written["pairs"] == ranking["pairs"]
    assert (tmp_path / "rank" / "ranking.png").read_bytes()[:4] == b"\x89PNG"
    arcs = [p["arc"] for p in ranking["pairs"]]
    assert len(set(arcs)) == 4
    # Resume: drop the last record; only that arc is trained again, the others are kept.
    records = (tmp_path / "rank" / "arcs.jsonl").read_text().splitlines()
    (tmp_path / "rank" / "arcs.jsonl").write_text("\n".join(records[:3]) + "\n")
    again = rank_correlation.run_ptb_rank_correlation(config, loaded, **args)
    assert [p["arc"] for p in again["pairs"]] == arcs
    assert again["pairs"][:3] == ranking["pairs"][:3]
    assert again["pairs"][3]["final_valid_ppl"] == pytest.approx(
        ranking["pairs"][3]["final_valid_ppl"], rel=1e-4
    )  # same seed, same training


def test_missing_search_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="search_workdir"):
        rank_correlation.load_ptb_search_config(str(tmp_path / "nothing"))
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "bin", "rank_correlation"),
            f"--search_workdir={tmp_path / 'nothing'}",
            f"--workdir={tmp_path / 'r'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 2
    assert "rank_correlation: error:" in proc.stderr and "config.json" in proc.stderr


@pytest.mark.e2e
@pytest.mark.slow
def test_rank_correlation_smoke_on_real_data(shared_data, tmp_path):
    search = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "bin", "search_ptb"),
            "--flagfile=configs/ptb_search_smoke.flags",
            f"--data_dir={shared_data / 'ptb'}",
            f"--workdir={tmp_path / 'search'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert search.returncode == 0, search.stderr[-3000:]
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "bin", "rank_correlation"),
            "--flagfile=configs/rank_correlation_smoke.flags",
            "--num_arcs=3",
            f"--search_workdir={tmp_path / 'search'}",
            f"--data_dir={shared_data / 'ptb'}",
            f"--workdir={tmp_path / 'rank'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranking = json.loads((tmp_path / "rank" / "ranking.json").read_text())
    assert ranking["num_pairs"] == 3 and ranking["arc_source"] == "controller"
    assert all(p["final_valid_ppl"] > 1 and p["shared_valid_ppl"] > 1 for p in ranking["pairs"])
    assert "kendall_tau = " in proc.stdout and "spearman_rho = " in proc.stdout
