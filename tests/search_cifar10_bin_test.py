"""bin/search_cifar10 on the real CIFAR-10 subset: the smoke config end to end."""

import json
import os

import numpy as np
import pytest
from cifar_test_utils import run_bin

from keras_enas.run import quiet


@pytest.mark.e2e
@pytest.mark.slow
def test_search_cifar10_smoke_on_real_data(shared_data, tmp_path):
    workdir = tmp_path / "run"
    proc = run_bin(
        "search_cifar10",
        "--flagfile=configs/cifar10_macro_search_smoke.flags",
        f"--data_dir={shared_data / 'cifar10'}",
        f"--workdir={workdir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = json.load(open(workdir / "best_architecture.json"))
    assert best["search_space"] == "macro" and best["strategy"] == "enas"
    assert best["space_config"] == {"num_layers": 3}
    assert len(best["fixed_arc"].split()) == 6 and best["arc"] == best["fixed_arc"]
    assert [layer["layer"] for layer in best["decoded"]["layers"]] == [0, 1, 2]
    accuracies = [s["accuracy"] for s in best["scores"]]
    assert accuracies == sorted(accuracies, reverse=True) and 0 <= min(accuracies) <= 1
    records = [json.loads(line) for line in open(workdir / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in (
        "loss",
        "accuracy",
        "val_accuracy",
        "controller_reward",
        "controller_baseline",
        "controller_entropy",
        "controller_skip_penalty",
        "lr",
    ):
        assert all(np.isfinite(r[key]) for r in records), key
    assert records[0]["lr"] == pytest.approx(0.05) and records[1]["lr"] < 0.0499  # cosine
    assert all(0 <= r["controller_raw_reward"] <= 1 for r in records)
    # Marginals: per layer an op over 6, then one [P(off), P(on)] per skip bit.
    assert [len(p) for p in records[-1]["marginals"]["probs"]] == [6, 6, 2, 6, 2, 2]
    assert os.listdir(workdir / "tensorboard") and (workdir / "network.png").exists()
    assert "--child_filters=4" in open(workdir / "flags.txt").read()
    assert json.load(open(workdir / "config.json"))["controller"]["skip_weight"] == 0.8
    assert "fixed_arc: " + best["fixed_arc"] in proc.stdout
    assert [line for line in proc.stderr.splitlines() if quiet.is_startup_noise(line)] == []
    shown = run_bin("show_arc", f"--arc_file={workdir / 'best_architecture.json'}", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == best["decoded"]
    _check_report(workdir, "macro", ("ops macro_op", "skips"))


def _check_report(workdir, space, groups):
    """search_report on a finished search: curves, heat maps, top architectures drawn."""
    from keras_enas import report

    written = report.write_report(str(workdir), top_k=2)
    assert set(written) == {"curves", "marginals", "top", "report"}
    assert all(open(written[k], "rb").read(4) == b"\x89PNG" for k in ("curves", "top"))
    text = open(written["report"]).read()
    assert f"# Search report: {space} (enas)" in text and "| 2 | " in text
    for group in groups:
        assert f"| {group} |" in text, group


@pytest.mark.e2e
@pytest.mark.slow
def test_micro_search_then_train_the_found_cells(shared_data, tmp_path):
    """The micro user flow: search_cifar10 → best_architecture.json → train_cifar10 → export."""
    search_dir, final_dir = tmp_path / "search", tmp_path / "final"
    data = f"--data_dir={shared_data / 'cifar10'}"
    proc = run_bin(
        "search_cifar10",
        "--flagfile=configs/cifar10_micro_search_smoke.flags",
        data,
        f"--workdir={search_dir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = json.load(open(search_dir / "best_architecture.json"))
    assert best["search_space"] == "micro" and best["space_config"] == {"num_nodes": 5}
    assert len(best["fixed_arc"].split()) == 40
    assert (search_dir / "cells.png").read_bytes()[:4] == b"\x89PNG"
    shown = run_bin("show_arc", f"--arc_file={search_dir}", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == best["decoded"]
    _check_report(search_dir, "micro", ("inputs", "ops micro_op"))
    records = [json.loads(line) for line in open(search_dir / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(0 <= r["controller_raw_reward"] <= 1 for r in records)
    proc = run_bin(
        "train_cifar10",
        "--flagfile=configs/cifar10_micro_final_smoke.flags",
        data,
        f"--arc_file={search_dir / 'best_architecture.json'}",  # the flagfile's arc ignored
        "--child_drop_path_keep_prob=0.6",
        f"--workdir={final_dir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.load(open(final_dir / "final_results.json"))
    assert results["architecture"]["fixed_arc"] == best["fixed_arc"]
    assert 0 <= results["final_test_accuracy"] <= 1
    assert (final_dir / "export" / "cells.png").read_bytes()[:4] == b"\x89PNG"
    assert json.load(open(final_dir / "export" / "architecture.json"))["search_space"] == "micro"
