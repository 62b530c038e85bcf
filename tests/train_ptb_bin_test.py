"""End-to-end tests of bin/train_ptb: smoke run on the real data, --dry_run, bad input."""

import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train_ptb(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "bin", "train_ptb"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_smoke_run_on_real_data(shared_data, tmp_path):
    workdir = tmp_path / "run"
    proc = _train_ptb(
        "--flagfile=configs/ptb_final_smoke.flags",
        f"--data_dir={shared_data / 'ptb'}",
        f"--workdir={workdir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-2])
    results = json.load(open(workdir / "final_results.json"))
    assert summary["final_test_ppl"] == results["final_test_ppl"]
    # Whole splits (the 82430 test tokens cut into 256 rows), state carried.
    assert results["final_test_tokens"] == 256 * (82430 // 256 - 1)
    assert results["final_valid_tokens"] == 256 * (73760 // 256 - 1)
    for key in ("final_valid_ppl", "final_test_ppl"):
        assert 1 < results[key] < 10000 * 1.01  # no worse than uniform over 10k words
    assert results["architecture"]["fixed_arc"] == "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
    records = [json.loads(line) for line in open(workdir / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1]
    assert all(
        k.startswith("final_") or k in ("epoch", "time", "seconds", "lr", "asgd", "valid_seconds")
        for r in records
        for k in r
    )
    for name in (
        "model.keras",
        "export/saved_model.pb",
        "export/architecture.json",
        "export/cell.png",
        "config.json",
        "flags.txt",
        "history.csv",
    ):
        assert (workdir / name).exists(), name
    assert os.listdir(workdir / "tensorboard")
    vocab = (workdir / "export" / "assets" / "vocab.txt").read_text().splitlines()
    # Line k is the word of id k: the sorted training types (enas-reference.md §8.1).
    assert len(vocab) == 10000 and vocab == sorted(set(vocab)) and "<unk>" in vocab


@pytest.mark.e2e
def test_dry_run_prints_one_json_line_with_the_parameter_count(shared_data):
    proc = _train_ptb(
        "--flagfile=configs/ptb_final.flags", f"--data_dir={shared_data / 'ptb'}", "--dry_run"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    info = json.loads(lines[0])
    assert info["num_parameters"] == 2 * 748 * 748 * (12 + 1) + 10000 * 748 == 22_027_104
    assert info["architecture"]["decoded"]["loose_ends"] == [3, 4, 7, 9, 10, 11]
    assert info["architecture"]["arcs"]["original"] == info["architecture"]["arc"]


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--fixed_arc=0 0 0 1 1 2", "--arc_format=original"],
            r"An original ptb_rnn arc has 2N - 1 tokens",
        ),
        (
            ["--fixed_arc=0 0 0 7 1", "--arc_format=original"],
            r"token 3 \(node 2 input\) is 7; expected an integer in \[0, 1\]",
        ),
        (["--arc_file={tmp}/missing.json"], r"Architecture file not found: .*missing.json"),
        (["--arc_file={tmp}/bad.json"], r"bad.json is not valid JSON"),
        ([], r"`fixed_arc` or `arc_file` \(exactly one\) must give the architecture"),
        (["--fixed_arc=0 1", "--cell=lstm"], r"`fixed_arc` does not apply to cell='lstm'"),
        (
            ["--fixed_arc=0 1", "--child_drop_o=1.5"],
            r"flag --child_drop_o=1.5: 1.5 is not a number in the range \[0.0, 0.99\]",
        ),
    ],
)
def test_bad_input_gives_a_one_line_error(args, message, tmp_path):
    (tmp_path / "bad.json").write_text("{'search_space': ptb_rnn")
    args = [a.format(tmp=tmp_path) for a in args]
    proc = _train_ptb(*args, f"--workdir={tmp_path / 'run'}", "--data_dir=/nonexistent")
    errors = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert re.search(message, errors[0]), proc.stderr
    if errors[0].startswith("FATAL Flags parsing error"):  # absl's own bounds check
        assert proc.returncode == 1
    else:
        assert len(errors) == 1 and errors[0].startswith("train_ptb: error: ")
        assert proc.returncode == 2
    assert not (tmp_path / "run").exists()  # nothing written
