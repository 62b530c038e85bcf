"""The report's figures: curves over epochs, heat maps first vs last epoch, top architectures."""

import io

import numpy as np
from matplotlib import figure as mpl_figure
from matplotlib import image as mpl_image

from keras_enas import marginals_plot
from keras_enas.report import data as data_lib

__all__ = ["curves_figure", "marginals_figure", "top_figure"]


def curves_figure(run):
    """Reward and baseline, entropy, validation and training metrics over epochs (2 × 2)."""
    fig = mpl_figure.Figure(figsize=(10, 6.5), dpi=100)
    axes = fig.subplots(2, 2)
    ax = axes[0, 0]
    for key, label in data_lib.CONTROLLER_KEYS:
        ax.plot(*run.series(key), marker="o", ms=3, label=label)
    _finish(ax, "controller reward and baseline", "reward")
    ax = axes[0, 1]
    ax.plot(*run.series("controller_entropy"), marker="o", ms=3, label="policy entropy")
    epochs = run.marginal_epochs()
    if epochs:
        ax.plot(
            [r["epoch"] for r in epochs],
            [_marginal_entropy(r) for r in epochs],
            marker="s",
            ms=3,
            label="sum of marginals' entropies",
        )
    _finish(ax, "controller entropy (nats)", "entropy")
    for ax, keys, title in (
        (axes[1, 0], data_lib.VALID_KEYS, "validation (sampled children, shared ω)"),
        (axes[1, 1], data_lib.TRAIN_KEYS, "training (sampled children, shared ω)"),
    ):
        key = run.first_key(keys)
        if key:
            ax.plot(*run.series(key), marker="o", ms=3, label=key)
            if key.endswith("ppl"):
                ax.set_yscale("log")
        _finish(ax, title, key or "not logged")
    fig.suptitle(
        f"{run.space_name} search ({run.strategy}): {len(run.epochs)} epochs — {run.workdir}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _finish(ax, title, ylabel):
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if ax.lines:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)


def _marginal_entropy(record):
    return float(
        sum(
            -np.sum(p * np.log(np.maximum(p, 1e-12)))
            for p in (np.asarray(q, np.float64) for q in record["marginals"]["probs"])
        )
    )


def marginals_figure(run):
    """Per-decision heat maps, one row per decision group: first | last logged epoch.

    Returns:
        A `Figure`, or None if no epoch logged marginals.
    """
    records = run.marginal_epochs()
    if not records:
        return None
    shown = [records[0], records[-1]] if len(records) > 1 else [records[0]]
    groups = [data_lib.marginal_groups(run, r) for r in shown]
    heights = [max(1.2, 0.5 + 0.26 * len(names)) for names, _ in groups[0].values()]
    width = max(m.shape[1] for _, m in groups[0].values())
    fig = mpl_figure.Figure(
        figsize=(len(shown) * (2.5 + 0.42 * width) + 0.6, sum(heights) + 0.6),
        dpi=100,
        layout="constrained",
    )
    axes = fig.subplots(len(heights), len(shown), squeeze=False, height_ratios=heights)
    image = None
    for column, (record, group) in enumerate(zip(shown, groups)):
        for row, (name, (names, matrix)) in enumerate(group.items()):
            ax = axes[row, column]
            image = marginals_plot.draw_heatmap(
                ax,
                names if column == 0 else [""] * len(names),
                matrix,
                f"{name}, epoch {record['epoch']}",
                marginals_plot.column_label(name),
            )
            labels = data_lib.op_names(run.space, name)
            if labels and len(labels) == matrix.shape[1]:
                ax.set_xticks(range(len(labels)), labels, fontsize=7)
                ax.set_xlabel("op", fontsize=8)
    fig.colorbar(image, ax=axes, fraction=0.03, pad=0.02, label="probability")
    fig.suptitle("controller's per-decision probabilities: first vs last epoch", fontsize=10)
    return fig


def top_figure(run, top_k, drawer):
    """Drawings of the top `top_k` architectures of `best_architecture.json`, titled with
    their scores. Returns None without a `best_architecture.json` or a known space."""
    if not run.best or run.space is None:
        return None
    items = run.best.get("top_k") or [{"arc": run.best["arc"]}]
    items = items[:top_k]
    images = []
    for rank, item in enumerate(items, 1):
        arc = run.space.parse(str(item["arc"]))
        scores = ", ".join(f"{k} {_num(v)}" for k, v in item.items() if _is_score(k, v))
        sub = drawer(run.space.decode(arc), f"#{rank}: {scores}" if scores else f"#{rank}")
        buffer = io.BytesIO()
        sub.savefig(buffer, format="png", dpi=90)
        buffer.seek(0)
        images.append(mpl_image.imread(buffer))
    aspect = np.mean([im.shape[1] / im.shape[0] for im in images])
    columns = min(1 if aspect > 1.6 else 2 if aspect > 1.0 else 3, len(images))
    rows = -(-len(images) // columns)
    h, w = max(im.shape[0] for im in images), max(im.shape[1] for im in images)
    fig = mpl_figure.Figure(figsize=(columns * w / 90, rows * h / 90 + 0.4), dpi=90)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, im in zip(axes.flat, images + [None] * (rows * columns - len(images))):
        ax.axis("off")
        if im is not None:
            ax.imshow(im)
    fig.suptitle("top architectures (search-phase scores, shared weights)", fontsize=10)
    fig.tight_layout()
    return fig


def _is_score(key, value):
    return key not in ("arc", "decoded_text") and isinstance(value, (int, float))


def _num(value):
    return f"{value:.4g}"
