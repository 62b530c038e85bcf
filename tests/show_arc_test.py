"""Tests of bin/show_arc and the `--arc_file` of show_arc/draw_arc: every space, sizes inferred."""

import json
import pathlib
import subprocess
import sys

import pytest

BIN = pathlib.Path(__file__).resolve().parents[1] / "bin"
MACRO_6 = "0 1 1 2 1 0 2 0 0 1 0 0 1 0 1 5 1 0 1 1 0"  # 6 layers: 21 tokens
MICRO_FINAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
RECORDS = {
    "ptb_rnn": {
        "search_space": "ptb_rnn",
        "space_config": {"num_nodes": 9, "arc_format": "enas_lm"},
        "arc": "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2",
        "arc_format": "enas_lm",
    },
    "macro": {"search_space": "macro", "space_config": {"num_layers": 6}, "arc": MACRO_6},
    "micro": {"search_space": "micro", "space_config": {"num_nodes": 5}, "arc": MICRO_FINAL},
}


def _run(program, *args):
    return subprocess.run(
        [sys.executable, str(BIN / program), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_show_arc_infers_the_macro_size_from_the_arc():
    result = _run("show_arc", "--search_space=macro", f"--fixed_arc={MACRO_6}", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["layers"]) == 6


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_arc_file_of_every_space(tmp_path, name):
    path = tmp_path / "best_architecture.json"
    path.write_text(json.dumps(RECORDS[name]))
    # The flagfile-style --fixed_arc and --search_space are ignored: the file decides.
    result = _run(
        "show_arc", f"--arc_file={path}", "--fixed_arc=0 1", "--search_space=ptb_rnn", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert "--fixed_arc='0 1' is ignored" in result.stderr
    direct = _run(
        "show_arc", f"--search_space={name}", f"--fixed_arc={RECORDS[name]['arc']}", "--json"
    )
    assert json.loads(result.stdout) == json.loads(direct.stdout)
    picture = tmp_path / "arc.png"
    drawn = _run("draw_arc", f"--arc_file={tmp_path}", f"--output={picture}")
    assert drawn.returncode == 0, drawn.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_arc_errors(tmp_path):
    result = _run("show_arc", "--search_space=macro")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "show_arc: error: Give the architecture: --fixed_arc or --arc_file."
    )
    result = _run("show_arc", f"--arc_file={tmp_path / 'nope.json'}")
    assert result.returncode == 2 and "Architecture file not found" in result.stderr
    result = _run("show_arc", "--search_space=macro", "--fixed_arc=0 1 0 1")
    assert result.returncode == 2 and "L(L + 1)/2 tokens" in result.stderr


USER_RECORD = {
    "search_space": "user",
    "arc": "2 1 0",
    "space_config": {
        "choices": [
            {
                "name": "block1",
                "kind": "op",
                "candidates": ["conv3", "conv5", "pool"],
                "num_chosen": 1,
                "inputs": ["stem"],
            },
            {
                "name": "skip",
                "kind": "input",
                "candidates": ["stem", "block1"],
                "num_chosen": None,
                "reduction": "sum",
                "inputs": ["stem", "block1"],
            },
        ]
    },
}


def test_user_space_from_its_record(tmp_path):
    path = tmp_path / "best_architecture.json"
    path.write_text(json.dumps(USER_RECORD))
    result = _run("show_arc", f"--arc_file={path}", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"block1": 2, "skip": [0]}
    picture = tmp_path / "choices.png"
    drawn = _run("draw_arc", f"--arc_file={path}", f"--output={picture}")
    assert drawn.returncode == 0, drawn.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Without its record a user space has no decisions to decode: one clear line.
    result = _run("show_arc", "--search_space=user", "--fixed_arc=0 1")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("give its search's best_architecture.json (--arc_file).")
