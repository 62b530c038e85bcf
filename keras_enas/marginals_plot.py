"""Heat maps of the controller's per-decision probabilities (matplotlib, no pyplot)."""

import io

import numpy as np
from matplotlib import figure as mpl_figure

__all__ = ["column_label", "draw_heatmap", "figure_png", "heatmap_figure"]


def heatmap_figure(names, matrix, title, column_label="choice"):
    """One heat map: a row per decision, a column per choice, colour = probability.

    Args:
        names: row labels (decision names).
        matrix: float array `(rows, columns)` in [0, 1]; NaN cells (no such choice) blank.
        title: the figure title.
        column_label: x-axis label.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    rows, columns = np.shape(matrix)
    fig = mpl_figure.Figure(figsize=(1.6 + 0.45 * columns + 0.9, 0.9 + 0.28 * rows), dpi=100)
    ax = fig.add_subplot()
    image = draw_heatmap(ax, names, matrix, title, column_label)
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    fig.tight_layout()
    return fig


def draw_heatmap(ax, names, matrix, title, column_label="choice"):
    """Draws one heat map (see `heatmap_figure`) into the axes `ax`; returns the image."""
    matrix = np.asarray(matrix, np.float64)
    rows, columns = matrix.shape
    image = ax.imshow(
        np.ma.masked_invalid(matrix),
        vmin=0.0,
        vmax=1.0,
        cmap="viridis",
        aspect="auto",
        interpolation="nearest",
    )
    if rows * columns <= 400:
        for (i, j), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if value > 0.6 else "white",
                )
    ax.set_yticks(range(rows), names, fontsize=7)
    ax.set_xticks(range(columns), [str(j) for j in range(columns)], fontsize=7)
    ax.set_xlabel(column_label, fontsize=8)
    ax.set_title(title, fontsize=9)
    return image


def figure_png(fig):
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def column_label(group):
    """The x-axis label of a `marginals.heatmap_groups` group."""
    if group == "skips":
        return "earlier layer (value: P(skip on))"
    if group == "inputs":
        return "input node / anchor"
    return "op index"
