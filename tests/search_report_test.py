"""Tests for search_report on hand-made working directories (no TensorFlow, no data).

The reports of real PTB, macro, micro and user searches are checked where those searches
run (search_ptb_test, search_cifar10_bin_test, user_search_test).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_enas import report
from keras_enas.report import data as data_lib
from keras_enas.search_spaces import base, get_space

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _uniform(space):
    return [[1.0 / n] * int(n) for n in space.num_choices]


def _peaked(space, arc):
    """Marginals with 0.9 on `arc`'s token (the rest spread evenly)."""
    probs = []
    for n, t in zip(space.num_choices, arc):
        n = int(n)
        row = [0.1 / (n - 1)] * n if n > 1 else [1.0]
        row[int(t)] = 0.9 if n > 1 else 1.0
        probs.append(row)
    return probs


def _workdir(tmp_path, space, arc, with_best=True):
    """A fake finished search: 3 epochs, marginals uniform then peaked on `arc`."""
    epochs = []
    for e, probs in enumerate([_uniform(space), None, _peaked(space, arc)], 1):
        record = {
            "epoch": e,
            "seconds": 10.0,
            "ppl": 900.0 - 100 * e,
            "val_ppl": 800.0 - 100 * e,
            "controller_reward": 0.1 * e,
            "controller_raw_reward": 0.1 * e,
            "controller_baseline": 0.05 * e,
            "controller_entropy": 15.0 - e,
        }
        if probs:
            record["marginals"] = {"num_samples": 64, "probs": probs}
        epochs.append(record)
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in epochs) + "\n")
    if with_best:
        other = space.random_arc(1)
        best = {
            "search_space": space.name,
            "space_config": space.get_config(),
            "strategy": "enas",
            "arc": space.format_arc(arc),
            "decoded_text": str(space.decode(arc)),
            "top_k": [
                {"arc": space.format_arc(arc), "valid_ppl": 400.0, "reward": 0.2},
                {"arc": space.format_arc(other), "valid_ppl": 450.0, "reward": 0.18},
            ],
            "note": "search-phase scores",
        }
        (tmp_path / "best_architecture.json").write_text(json.dumps(best))
    return tmp_path


@pytest.mark.parametrize(
    "name, options", [("ptb_rnn", {"num_nodes": 5}), ("macro", {"num_layers": 4}), ("micro", {})]
)
def test_report_of_each_space(tmp_path, name, options):
    space = get_space(name, **options)
    arc = space.random_arc(0)
    written = report.write_report(str(_workdir(tmp_path, space, arc)), top_k=2)
    assert set(written) == {"curves", "marginals", "top", "report"}
    for key in ("curves", "marginals", "top"):
        assert open(written[key], "rb").read(4) == b"\x89PNG"
        assert os.path.getsize(written[key]) > 5000
    text = open(written["report"]).read()
    for image in ("report.png", "report_marginals.png", "report_top.png"):
        assert f"]({image})" in text
    # The per-epoch table has the logged values, the top-k table both arcs in order.
    assert "| 3 | 600 | 500 | 0.3 | 0.15 | 12.00 | 10 |" in text
    assert text.index(space.format_arc(arc)) < text.index("450")
    # What the controller learned: uniform at epoch 1, 0.9 on the arc's tokens at epoch 3.
    groups = data_lib.marginal_groups(
        data_lib.read_run(str(tmp_path)),
        json.loads((tmp_path / "log.jsonl").read_text().splitlines()[2]),
    )
    assert sum(len(names) for names, _ in groups.values()) == len(
        [s for s in space.steps if not isinstance(s, base.AnchorStep) and s.num_tokens]
    )
    rows = [line for line in text.splitlines() if line.startswith("| ops")]
    assert rows, text
    first, last = (float(x) for x in rows[0].split("|")[3:5])
    assert last == pytest.approx(0.9, abs=1e-3) and first < 0.5


def test_report_without_best_architecture_or_space(tmp_path):
    space = get_space("ptb_rnn", num_nodes=4)
    _workdir(tmp_path, space, space.random_arc(0), with_best=False)
    written = report.write_report(str(tmp_path))
    assert set(written) == {"curves", "marginals", "report"}  # nothing to draw
    text = open(written["report"]).read()
    assert "no `best_architecture.json` yet" in text and "None derived yet." in text
    assert "tokens with 4 choices" in text  # grouped by number of choices


def test_bad_workdir_and_top_k_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="log.jsonl"):
        report.write_report(str(tmp_path))
    (tmp_path / "log.jsonl").write_text('{"epoch": 1}\nnot json\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        report.write_report(str(tmp_path))
    with pytest.raises(ValueError, match="top_k"):
        report.write_report(str(tmp_path), top_k=0)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "bin", "search_report"), f"--workdir={tmp_path}/x"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("search_report: error: `workdir`")


def test_marginal_groups_match_the_space(tmp_path):
    space = get_space("ptb_rnn", num_nodes=4)
    arc = space.random_arc(3)
    _workdir(tmp_path, space, arc)
    run = data_lib.read_run(str(tmp_path))
    groups = data_lib.marginal_groups(run, run.marginal_epochs()[-1])
    names, matrix = groups["inputs"]
    assert names == ["node1_input", "node2_input", "node3_input"]
    np.testing.assert_allclose(np.nansum(matrix, axis=1), 1.0)
