"""Issue 11, fault 8: every size from a flag, an arc file, a config.json or run_info.json is
bounded, and a size out of bounds is a one-line error naming the value and the range."""

import json
import pathlib
import subprocess
import sys

import pytest
from absl import flags

from keras_enas import cli
from keras_enas.config import base as config_base
from keras_enas.config.cifar import CIFARSearchConfig
from keras_enas.config.ptb import PTBSearchConfig
from keras_enas.config.ptb_final import PTBFinalConfig
from keras_enas.run import records
from keras_enas.search_spaces import MacroSpace, MicroSpace, RNNCellSpace, infer
from keras_enas.search_spaces.user import UserSpace

BIN = pathlib.Path(__file__).resolve().parents[1] / "bin"


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: RNNCellSpace(num_nodes=1000),
            r"`num_nodes` must be <= 32 \(allowed range \[2, 32\]",
        ),
        (
            lambda: MacroSpace(num_layers=10**8),
            r"`num_layers` must be <= 64 \(allowed range \[3, 64\]",
        ),
        (
            lambda: MicroSpace(num_nodes=10**9),
            r"`num_nodes` must be <= 16 \(allowed range \[1, 16\]",
        ),
        (
            lambda: infer.infer_space("ptb_rnn", "0 1", num_nodes=10**9),
            r"Received: num_nodes=1000000000",
        ),
    ],
)
def test_space_sizes_are_bounded(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "record, message",
    [
        ({"search_space": "ptb_rnn", "space_config": {"num_nodes": 1000}}, r"\[2, 32\]"),
        ({"search_space": "macro", "space_config": {"num_layers": 10**8}}, r"\[3, 64\]"),
        ({"search_space": "micro", "space_config": {"num_nodes": 10**9}}, r"\[1, 16\]"),
        ({"search_space": "ptb_rnn", "space_config": {"num_nodes": 1e9}}, "must be an int"),
        ({"search_space": "ptb_rnn", "space_config": [1000]}, "'space_config' a JSON object"),
    ],
)
def test_arc_file_sizes_are_bounded(tmp_path, record, message):
    path = tmp_path / "best_architecture.json"
    path.write_text(json.dumps({**record, "arc": "0 1"}))
    with pytest.raises(ValueError, match=message) as error:
        records.read_architecture(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_user_space_sizes_are_bounded():
    choice = {"name": "b", "kind": "input", "candidates": ["x", "y"], "num_chosen": 10**9}
    with pytest.raises(ValueError, match=r"num_chosen` must be <= 1024"):
        UserSpace([choice])
    with pytest.raises(ValueError, match=r"number of choices` must be <= 1024"):
        UserSpace([{**choice, "name": f"c{i}", "num_chosen": 1} for i in range(1025)])


@pytest.mark.parametrize(
    "config_cls, values, message",
    [
        (PTBSearchConfig, {"child": {"num_nodes": 1000}}, r"`num_nodes` must be <= 32"),
        (PTBSearchConfig, {"child": {"bptt": 1000000}}, r"`bptt` must be <= 1000"),
        (PTBSearchConfig, {"child": {"num_nodes": "12"}}, r"`num_nodes` must be an integer"),
        (PTBSearchConfig, {"child": {"hidden_size": 1e9}}, r"`hidden_size` must be an integer"),
        (PTBSearchConfig, {"child": [1, 2]}, r"RNNChildConfig must be read from a JSON object"),
        (CIFARSearchConfig, {"child": {"num_layers": 10**8}}, r"`num_layers` must be <= 64"),
        (CIFARSearchConfig, {"child": {"batch_size": 10**6}}, r"`batch_size` must be <= 4096"),
        (PTBFinalConfig, {"num_nodes": 10**9}, r"`num_nodes` must be <= 32"),
    ],
)
def test_config_json_sizes_are_bounded(config_cls, values, message):
    with pytest.raises(ValueError, match=message):
        config_base.from_dict(config_cls, values)


def _flag_values(config_cls, *argv):
    values = flags.FlagValues()
    cli.define_flags(config_cls, values)
    values(["prog", *argv])
    return values


def test_size_flags_are_bounded():
    with pytest.raises(flags.IllegalFlagValueError, match=r"--child_num_nodes=1000"):
        _flag_values(PTBSearchConfig, "--child_num_nodes=1000")
    with pytest.raises(flags.IllegalFlagValueError, match=r"--child_bptt=1000000"):
        _flag_values(PTBSearchConfig, "--child_bptt=1000000")
    # In bounds one by one, but N = 24 and H = 1000 need 2.2e9 shared weights (8.9 GB).
    values = _flag_values(PTBSearchConfig, "--child_num_nodes=24")
    with pytest.raises(ValueError, match=r"more than the 1,000,000,000 allowed"):
        cli.config_from_flags(PTBSearchConfig, values)
    small = _flag_values(PTBSearchConfig, "--child_num_nodes=24", "--child_hidden_size=200")
    assert cli.config_from_flags(PTBSearchConfig, small).child.num_nodes == 24


def test_run_info_sizes_are_bounded(tmp_path):
    from keras_enas.tasks.ptb import search as ptb_search

    config = PTBSearchConfig(workdir=str(tmp_path)).to_dict()
    with pytest.raises(ValueError, match=r"`vocab_size` must be <= 1000000"):
        ptb_search.load_ptb_search(str(tmp_path), config, {"vocab_size": 10**9})


def test_show_arc_refuses_a_huge_num_nodes_at_once():
    result = subprocess.run(
        [sys.executable, str(BIN / "show_arc"), "--num_nodes=1000000000", "--fixed_arc=0 1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "--num_nodes=1000000000: 1000000000 is not an integer in the range [1, 32]" in (
        result.stderr
    )
