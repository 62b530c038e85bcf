"""The generic drawing of a user space, rebuilt from its JSON config without the model."""

import json

from keras_enas.draw_choices import choice_graph, draw_choices
from keras_enas.search_spaces.user import UserSpace

CONFIG = {
    "choices": [
        {
            "name": "block1",
            "kind": "op",
            "candidates": ["conv3", "conv5", "pool"],
            "num_chosen": 1,
            "inputs": ["stem"],
        },
        {
            "name": "skips",
            "kind": "input",
            "candidates": ["stem", "block1"],
            "num_chosen": None,
            "reduction": "sum",
            "inputs": ["stem", "block1"],
        },
    ]
}


def test_graph_has_only_chosen_inputs():
    space = UserSpace(**json.loads(json.dumps(CONFIG)))
    inputs, labels = choice_graph(space, space.encode({"block1": 1, "skips": [1]}))
    assert inputs["block1"] == ["stem"] and inputs["skips"] == ["block1"]
    assert labels["block1"] == "block1: conv5"


def test_draws_a_png(tmp_path):
    space = UserSpace(**CONFIG)
    path = tmp_path / "choices.png"
    draw_choices(space, {"block1": 2, "skips": [0, 1]}, str(path))
    assert path.read_bytes()[:4] == b"\x89PNG"
