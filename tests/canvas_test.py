"""Tests for keras_enas.canvas: boxes and arrows, and a figure sized to what is drawn."""

import numpy as np
from matplotlib import patches

from keras_enas import canvas


def test_figure_is_sized_to_the_drawing():
    board = canvas.Canvas()
    board.box((0.0, 0.0), "tanh", "#9ecae1", 1.0)
    board.box((3.0, -4.0), "avg", "#ffe08a", 1.0, index=7)
    board.curve([(0.0, -0.25), (1.5, -2.0), (3.0, -3.75)])
    x0, y0, x1, y1 = board.extent
    assert x0 < -0.5 and x1 > 3.5 and y0 < -4.2 and y1 > 0.2
    fig = board.finish(title="")
    width, height = fig.get_size_inches()
    assert np.isclose(width, (x1 - x0 + 0.5) * canvas.UNIT)
    assert np.isclose(height, (y1 - y0 + 0.5) * canvas.UNIT)
    ax = fig.axes[0]
    assert [type(p) for p in ax.patches] == [
        patches.FancyBboxPatch,
        patches.FancyBboxPatch,
        patches.FancyArrowPatch,
    ]
    assert [t.get_text() for t in ax.texts] == ["tanh", "avg", "7"]


def test_title_widens_a_narrow_figure_and_loop_grows_to_the_right():
    board = canvas.Canvas()
    board.box((0.0, 0.0), "stem", "#d9d9d9", 1.0)
    board.loop((0.53, -0.1), (0.53, -3.0), bulge=2.0, color="C0")
    assert board.extent[2] >= 0.53 + 0.75 * 2.0
    fig = board.finish(title="A long title that is wider than everything drawn")
    assert fig.get_size_inches()[0] > 4.5 * canvas.UNIT
    assert fig.axes[0].texts[-1].get_text().startswith("A long title")


def test_label_width_fits_the_label():
    assert canvas.label_width("max 3×3") > canvas.label_width("add") == 0.8
