"""`Canvas`: labelled boxes and arrows on a matplotlib figure, sized to what is drawn."""

import numpy as np
from matplotlib import figure as mpl_figure
from matplotlib import patches
from matplotlib import path as mpl_path

__all__ = ["Canvas", "CHAR", "HEIGHT", "label_width", "UNIT"]

UNIT = 0.75  # inches per layout unit; fonts are in points, so this fixes their scale
CHAR = 0.1  # approximate width of one 10 pt character, in layout units
HEIGHT = 0.44  # box height, in layout units


def label_width(label, minimum=0.8):
    """Width of a box that fits a one-line 10 pt `label`, in layout units."""
    return max(minimum, 0.35 + CHAR * len(label))


class Canvas:
    """One matplotlib figure whose axes span it, drawn in layout units.

    Tracks the extent of what is drawn, so `finish` can size the figure to it at
    `UNIT` inches per layout unit (fonts, in points, keep their size whatever the
    drawing's extent). No pyplot: the figure is independent of any backend state.

    Attributes:
        figure, ax: the `matplotlib.figure.Figure` and its axes.
        extent: np.array `[x0, y0, x1, y1]` of what is drawn so far.
    """

    def __init__(self):
        self.figure = mpl_figure.Figure()
        self.ax = self.figure.add_axes((0, 0, 1, 1))
        self.ax.set_axis_off()
        self.extent = np.array([np.inf, np.inf, -np.inf, -np.inf])

    def grow(self, x0, y0, x1, y1):
        """Extends the drawn extent to cover the box `(x0, y0)`–`(x1, y1)`."""
        self.extent = np.concatenate(
            [np.minimum(self.extent[:2], (x0, y0)), np.maximum(self.extent[2:], (x1, y1))]
        )

    def box(self, xy, label, color, width, index=None, round_box=True):
        """A labelled box centred at `xy` (a rounder pill unless `round_box`)."""
        x, y = xy
        self.ax.add_patch(
            patches.FancyBboxPatch(
                (x - width / 2, y - HEIGHT / 2),
                width,
                HEIGHT,
                facecolor=color,
                boxstyle=f"round,pad=0.03,rounding_size={0.1 if round_box else 0.2}",
                edgecolor="#404040",
                linewidth=1.1,
                zorder=2,
            )
        )
        self.ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=3)
        self.grow(
            x - width / 2 - 0.05, y - HEIGHT / 2 - 0.05, x + width / 2 + 0.05, y + HEIGHT / 2 + 0.05
        )
        if index is not None:
            self.text(x - width / 2 - 0.08, y, str(index), ha="right", fontsize=8, color="#808080")

    def text(self, x, y, s, ha="center", fontsize=10, **kwargs):
        """A text at `(x, y)`, counted in the extent by an estimate of its width."""
        self.ax.text(x, y, s, ha=ha, va="center", fontsize=fontsize, zorder=3, **kwargs)
        width = CHAR * fontsize / 10 * len(s)
        x0 = {"left": x, "center": x - width / 2, "right": x - width}[ha]
        self.grow(x0, y - 0.15, x0 + width, y + 0.15)

    def curve(self, points):
        """An arrow down through `points`, leaving and entering each one vertically."""
        points = np.asarray(points, dtype=float)
        vertices, codes = [points[0]], [mpl_path.Path.MOVETO]
        for p, q in zip(points[:-1], points[1:]):
            handle = np.array([0.0, (q[1] - p[1]) / 2])
            vertices += [p + handle, q - handle, q]
            codes += [mpl_path.Path.CURVE4] * 3
        self.ax.add_patch(
            patches.FancyArrowPatch(
                path=mpl_path.Path(vertices, codes),
                arrowstyle="-|>",
                mutation_scale=11,
                linewidth=1.1,
                color="#404040",
                zorder=1,
            )
        )

    def loop(self, start, end, bulge, color, linewidth=1.0):
        """A skip arrow that leaves `start` to the right and enters `end` from the right."""
        start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
        vertices = [start, start + (bulge, 0.0), end + (bulge, 0.0), end]
        codes = [mpl_path.Path.MOVETO] + [mpl_path.Path.CURVE4] * 3
        self.ax.add_patch(
            patches.FancyArrowPatch(
                path=mpl_path.Path(vertices, codes),
                arrowstyle="-|>",
                mutation_scale=8,
                linewidth=linewidth,
                color=color,
                alpha=0.85,
                zorder=1,
            )
        )
        self.grow(start[0], end[1], start[0] + 0.75 * bulge + 0.05, start[1])

    def finish(self, title):
        """Fits the axes and the figure size to the extent, adds the title; the figure."""
        x0, y0, x1, y1 = self.extent + (-0.25, -0.25, 0.25, 0.25)
        if title:
            half = 0.55 * CHAR * len(title.replace("$", "")) + 0.2
            x0, x1 = min(x0, (x0 + x1) / 2 - half), max(x1, (x0 + x1) / 2 + half)
            self.ax.text(
                (x0 + x1) / 2,
                y1 + 0.3,
                title,
                ha="center",
                va="center",
                fontsize=11,
                fontweight="bold",
            )
            y1 += 0.6
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.figure.set_size_inches((x1 - x0) * UNIT, (y1 - y0) * UNIT)
        return self.figure
