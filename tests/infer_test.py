"""Tests for keras_enas.search_spaces.infer: the space of an arc string, sized by its length."""

import pytest

from keras_enas.search_spaces import infer

PTB_FINAL = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
ENAS_LM_FINAL = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
MICRO_FINAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"


def _zeros(count):
    return " ".join(["0"] * count)


@pytest.mark.parametrize(
    "search_space,fixed_arc,kwargs,config",
    [
        (
            "ptb_rnn",
            PTB_FINAL,
            {"arc_format": "original"},
            {"num_nodes": 12, "arc_format": "original"},
        ),
        ("ptb_rnn", ENAS_LM_FINAL, {}, {"num_nodes": 9, "arc_format": "enas_lm"}),
        ("micro", MICRO_FINAL, {}, {"num_nodes": 5}),
        ("macro", _zeros(78), {}, {"num_layers": 12}),
        ("macro", _zeros(300), {}, {"num_layers": 24}),
    ],
)
def test_sizes_are_inferred_from_the_length(search_space, fixed_arc, kwargs, config):
    space = infer.infer_space(search_space, fixed_arc, **kwargs)
    assert space.name == search_space and space.get_config() == config
    assert space.arc_length == len(fixed_arc.split())


def test_explicit_sizes_win():
    assert infer.infer_space("ptb_rnn", ENAS_LM_FINAL, num_nodes=5).num_nodes == 5
    assert infer.infer_space("macro", _zeros(78), num_layers=4).num_layers == 4
    assert infer.infer_space("micro", MICRO_FINAL, num_nodes=2).num_nodes == 2


@pytest.mark.parametrize(
    "search_space,fixed_arc,kwargs,message",
    [
        ("ptb_rnn", _zeros(22), {"arc_format": "original"}, "2N - 1 tokens"),
        ("ptb_rnn", _zeros(1), {"arc_format": "original"}, "2N - 1 tokens"),
        ("ptb_rnn", _zeros(15), {}, r"2\(N - 1\) tokens"),
        ("ptb_rnn", _zeros(16), {"arc_format": "fancy"}, "`arc_format` must be one of"),
        ("macro", _zeros(77), {}, r"L\(L \+ 1\)/2 tokens"),
        ("macro", _zeros(3), {}, r"L >= 3"),
        ("micro", _zeros(41), {}, "8 tokens per decided node"),
        ("micro", MICRO_FINAL, {"arc_format": "enas_lm"}, "`arc_format` does not apply"),
        ("macro", _zeros(78), {"num_nodes": 3}, "`num_nodes` does not apply"),
        ("ptb_rnn", ENAS_LM_FINAL, {"num_layers": 3}, "`num_layers` does not apply"),
        ("micro", "  ", {}, "at least one token"),
        ("cnn", "0 1", {}, "`search_space` must be one of"),
    ],
)
def test_errors(search_space, fixed_arc, kwargs, message):
    with pytest.raises(ValueError, match=message):
        infer.infer_space(search_space, fixed_arc, **kwargs)


def test_fixed_arc_must_be_a_string():
    with pytest.raises(TypeError, match="`fixed_arc` must be a string"):
        infer.infer_space("micro", [0, 1, 0, 1])
