"""bin/search_cifar10 and bin/train_cifar10: bad input gives one clear line; --dry_run."""

import json
import re

import pytest
from cifar_test_utils import analytic_parameters, run_bin

from keras_enas.search_spaces.macro import MacroSpace

SMOKE = {
    "search_cifar10": "--flagfile=configs/cifar10_macro_search_smoke.flags",
    "train_cifar10": "--flagfile=configs/cifar10_macro_final_smoke.flags",
}


def _missing_batches(tmp_path):
    """A data directory holding only the test batch and the metadata, no data_batch_*."""
    directory = tmp_path / "cifar10" / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    (directory / "test_batch").write_bytes(b"")
    return str(tmp_path / "cifar10")


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("search_cifar10", ["--child_filters=1"], r"child_filters"),
        ("search_cifar10", ["--search_strategy=greedy"], r"search_strategy"),
        ("search_cifar10", ["--data_dir={missing}"], r"data_batch_1 \.\.\. data_batch_5 missing"),
        (
            "train_cifar10",
            ["--fixed_arc=0 1 0 2"],
            r"A macro arc has L\(L \+ 1\)/2 tokens .* received 4\.",
        ),
        ("train_cifar10", ["--fixed_arc=0 1 0 2 0 7"], r"token 5 \(layer 2 skips bit 1\) is 7"),
        ("train_cifar10", ["--arc_file={tmp}/nowhere.json"], r"Architecture file not found"),
        ("train_cifar10", ["--fixed_arc="], r"Exactly one architecture source must be given"),
        ("train_cifar10", ["--data_dir={missing}"], r"data_batch_1 \.\.\. data_batch_5 missing"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, name, args, message):
    args = [a.format(missing=_missing_batches(tmp_path), tmp=tmp_path) for a in args]
    if name == "train_cifar10" and not any(
        a.startswith(("--arc_file", "--fixed_arc")) for a in args
    ):
        args.append("--fixed_arc=1 5 1 4 0 1")
    proc = run_bin(name, SMOKE[name], f"--workdir={tmp_path / 'run'}", *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if re.search(message, line)]
    assert len(lines) == 1, proc.stderr[-2000:]
    if name in lines[0]:  # our own errors: exactly "<prog>: error: <one line>", status 2
        assert lines[0].startswith(f"{name}: error: ") and proc.returncode == 2


def test_dry_run_prints_one_json_line_with_the_parameter_count():
    arc = "1 5 1 4 0 1"
    proc = run_bin(
        "train_cifar10",
        SMOKE["train_cifar10"],
        "--dry_run",
        f"--fixed_arc={arc}",
        "--child_filters=8",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    space = MacroSpace(3)
    assert report["num_parameters"] == analytic_parameters(space, space.parse(arc), 8)
    assert report["search_space"] == "macro" and report["fixed_arc"] == arc
