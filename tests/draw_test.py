"""Tests for keras_enas.draw and bin/draw_arc: published arcs drawn to valid PNG and SVG files."""

import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib import colors as mpl_colors
from matplotlib import image as mpl_image
from matplotlib import patches

from keras_enas import draw
from keras_enas.search_spaces import get_space

PTB_FINAL = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
ENAS_LM_FINAL = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
MICRO_FINAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
DRAW_ARC = pathlib.Path(__file__).resolve().parents[1] / "bin" / "draw_arc"


def _decode(name, fixed_arc=None, **kwargs):
    space = get_space(name, **kwargs)
    return space.decode(space.random_arc(0) if fixed_arc is None else space.parse(fixed_arc))


ARCHITECTURES = {
    "ptb_final": _decode("ptb_rnn", PTB_FINAL, num_nodes=12, arc_format="original"),
    "enas_lm_final": _decode("ptb_rnn", ENAS_LM_FINAL, num_nodes=9, arc_format="enas_lm"),
    "micro_final": _decode("micro", MICRO_FINAL, num_nodes=5),
    "macro_random": _decode("macro", num_layers=12),
}


def _expected_labels(architecture):
    """Label → how many boxes carry it."""
    labels = {}

    def add(label, count=1):
        labels[label] = labels.get(label, 0) + count

    if hasattr(architecture, "loose_ends"):  # RNNCell
        for _, activation in architecture.nodes:
            add(draw.ACTIVATION_LABELS[activation])
        add("avg")
    elif hasattr(architecture, "pool_layers"):  # MacroNetwork
        add("stem")
        for op, _ in architecture.layers:
            add(draw.OP_LABELS[op].replace("avg", "avg pool").replace("max", "max pool"))
        add("factorized reduction, stride 2", 2)
    else:  # MicroCells
        for cell in (architecture.normal, architecture.reduce):
            for pair in cell.nodes:
                for _, op in pair:
                    add(draw.OP_LABELS[op])
            add("add", len(cell.nodes))
            add("concat")
    return labels


def _svg_texts(path):
    root = ET.parse(path).getroot()  # parses as XML
    return [
        "".join(element.itertext()).strip()
        for element in root.iter("{http://www.w3.org/2000/svg}text")
    ]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_svg_is_xml_with_every_label(name, tmp_path):
    architecture = ARCHITECTURES[name]
    path = str(tmp_path / f"{name}.svg")
    assert draw.draw(architecture, path) == path
    texts = _svg_texts(path)
    for label, count in _expected_labels(architecture).items():
        assert texts.count(label) == count, label


def test_svg_of_ptb_final_shows_relu_tanh_avg_and_node_indices(tmp_path):
    path = draw.draw(ARCHITECTURES["ptb_final"], tmp_path / "cell.svg")
    texts = _svg_texts(path)
    assert texts.count("ReLU") == 7 and texts.count("tanh") == 5 and texts.count("avg") == 1
    assert all(str(k) in texts for k in range(12))
    assert any("avg of 6 loose ends" in text for text in texts)  # the default title


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_png_is_a_real_picture(name, tmp_path):
    architecture = ARCHITECTURES[name]
    path = draw.draw(architecture, tmp_path / f"{name}.PNG")
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    pixels = mpl_image.imread(path)[..., :3]
    assert min(pixels.shape[:2]) > 300
    # Every op / activation used is drawn as a box filled with its own color.
    names = (
        {act for _, act in architecture.nodes}
        if hasattr(architecture, "loose_ends")
        else {op for op, _ in architecture.layers}
        if hasattr(architecture, "pool_layers")
        else {
            op
            for cell in (architecture.normal, architecture.reduce)
            for pair in cell.nodes
            for _, op in pair
        }
    )
    for used in names:
        color = np.array(mpl_colors.to_rgb(draw.COLORS[used]))
        assert np.any(np.all(np.abs(pixels - color) < 2 / 255, axis=-1)), used


def test_figure_has_one_box_per_node_and_one_arrow_per_edge():
    cell = ARCHITECTURES["ptb_final"]
    fig = draw.figure(cell)
    kinds = [type(p) for p in fig.axes[0].patches]
    # 12 nodes + x_t, h_{t-1}, avg, h_t; edges: 2 into node 0, 11, 6 loose ends, avg → h_t.
    assert kinds.count(patches.FancyBboxPatch) == 16
    assert kinds.count(patches.FancyArrowPatch) == 2 + 11 + 6 + 1
    cells = ARCHITECTURES["micro_final"]
    kinds = [type(p) for p in draw.figure(cells, title="").axes[0].patches]
    # Per cell: 2 inputs, 10 ops, 5 adds, concat, h_i; 10 + 10 edges, loose ends, 1.
    arrows = sum(20 + len(cell.loose_ends) + 1 for cell in (cells.normal, cells.reduce))
    assert kinds.count(patches.FancyBboxPatch) == 2 * 19
    assert kinds.count(patches.FancyArrowPatch) == arrows


def test_macro_draws_one_arc_per_skip_and_a_single_cell_draws(tmp_path):
    network = ARCHITECTURES["macro_random"]
    kinds = [type(p) for p in draw.figure(network).axes[0].patches]
    assert kinds.count(patches.FancyArrowPatch) == len(network.layers) + network.num_skips
    assert kinds.count(patches.FancyBboxPatch) == len(network.layers) + 1
    texts = _svg_texts(draw.draw(ARCHITECTURES["micro_final"].reduce, tmp_path / "r.svg"))
    assert texts.count("add") == 5 and texts.count("concat") == 1


def test_errors(tmp_path):
    cell = ARCHITECTURES["enas_lm_final"]
    with pytest.raises(ValueError, match=r"`path` must end in one of \['.png', '.svg'\]"):
        draw.draw(cell, tmp_path / "cell.jpg")
    with pytest.raises(TypeError, match="`path` must be a str or path-like"):
        draw.draw(cell, 3)
    with pytest.raises(TypeError, match="must be an RNNCell, .*Received: str"):
        draw.draw("0 2 1 0", tmp_path / "cell.png")
    with pytest.raises(ValueError, match="`dpi` must be > 0"):
        draw.draw(cell, tmp_path / "cell.png", dpi=0)


def _draw_arc(*args):
    return subprocess.run(
        [sys.executable, str(DRAW_ARC), *args], capture_output=True, text=True, timeout=60
    )


def test_draw_arc_draws_the_published_arcs(tmp_path):
    path = tmp_path / "ptb.svg"
    result = _draw_arc(
        "--search_space=ptb_rnn",
        "--arc_format=original",
        f"--fixed_arc={PTB_FINAL}",
        f"--output={path}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(path)
    assert _svg_texts(path).count("ReLU") == 7  # num_nodes = 12 inferred from 23 tokens


def test_draw_arc_fails_cleanly(tmp_path):
    result = _draw_arc(
        "--search_space=micro", f"--fixed_arc={MICRO_FINAL} 7", f"--output={tmp_path / 'micro.png'}"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "draw_arc: error: A micro arc has 8 tokens per decided node (40 for 5 nodes); received 41."
    )
    result = _draw_arc(
        "--search_space=micro",
        f"--fixed_arc={MICRO_FINAL[:-1]}9",
        f"--output={tmp_path / 'micro.gif'}",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        "draw_arc: error: Invalid micro arc: token 39 (reduce node 6 y op) is 9"
    )
    assert not list(tmp_path.iterdir())
