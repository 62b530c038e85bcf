"""The programs' command lines: `--help` shows each program's own flags with their help texts,
and its usage text (examples with line continuations) exactly as written in its module."""

import pathlib
import re
import subprocess
import sys

import pytest
from absl import flags

from keras_enas import cli
from keras_enas.config import ptb_final, rank
from keras_enas.config.cifar import CIFARFinalConfig, CIFARSearchConfig
from keras_enas.config.ptb import PTBSearchConfig

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = {
    "search_ptb": PTBSearchConfig,
    "train_ptb": ptb_final.PTBFinalConfig,
    "search_cifar10": CIFARSearchConfig,
    "train_cifar10": CIFARFinalConfig,
    "rank_correlation": rank.RankCorrelationConfig,
}
OWN_FLAGS = {  # flags a program defines besides its config's
    "search_ptb": ["dry_run"],
    "search_cifar10": ["dry_run"],
    "train_ptb": ["dry_run"],
    "show_arc": ["search_space", "fixed_arc", "arc_file", "arc_format", "num_nodes", "json"],
    "draw_arc": ["search_space", "fixed_arc", "arc_file", "num_layers", "output"],
}
PROGRAMS = sorted(set(CONFIGS) | set(OWN_FLAGS))


def _help(program):
    result = subprocess.run(
        [sys.executable, str(REPO / "bin" / program), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    # absl's --help prints the usage text and the key flags on stdout and exits with status 1.
    assert result.returncode == 1 and "Try --helpfull" in result.stdout, result.stderr
    return result.stdout


def _squeeze(text):
    return re.sub(r"\s+", "", text)


def _expected_helps(program):
    """{flag name: help text} of the program's config fields, from keras_enas.config."""
    values = flags.FlagValues()
    if program in CONFIGS:
        cli.define_flags(CONFIGS[program], flag_values=values)
    return {name: values[name].help for name in values}


def test_search_ptb_help_lists_child_hidden_size_with_its_help_text():
    text = _help("search_ptb")
    helps = _expected_helps("search_ptb")
    assert "Hidden size" in helps["child_hidden_size"]
    assert _squeeze(f"--child_hidden_size: {helps['child_hidden_size']}") in _squeeze(text)


@pytest.mark.parametrize("program", PROGRAMS)
def test_help_shows_every_own_flag_and_the_usage_text_as_written(program):
    text = _help(program)
    squeezed = _squeeze(text)
    for name, help_text in _expected_helps(program).items():
        assert help_text and _squeeze(help_text) in squeezed, name
    for name in [*_expected_helps(program), *OWN_FLAGS.get(program, [])]:
        assert re.search(rf"^  --(\[no\])?{name}: \S", text, re.M), name
    # The usage text is the module's raw docstring: `\` line continuations survive.
    source = (REPO / "keras_enas" / "programs" / f"{program}.py").read_text()
    docstring = re.match(r'r"""(.*?)"""', source, re.S)[1]
    assert " \\\n" in docstring, "the usage text should show a continued example"
    assert text.startswith(docstring.strip())
