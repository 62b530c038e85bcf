#!/usr/bin/env python3
"""The CPU study's figure of the ENAS controllers (tools/cpu_study.py): for every ENAS seed,
the per-node activation probabilities at the first and at the last logged epoch.

Example:
    python tools/cpu_study_figures.py --out=runs/cpu_study --png=docs/figures/cpu_study_activations.png
"""

import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP = "ops rnn_activation"


def _seed(path):
    return int(re.search(r"_s(\d+)$", path).group(1))


def activations(out):
    """`[(seed, [(epoch, node names, matrix)])]` of every ENAS search in `out` (first, last).

    Raises:
        FileNotFoundError: if `out` holds no ENAS search with logged marginals.
    """
    sys.path.insert(0, ROOT)
    from keras_enas.report import data as report_data

    found = []
    paths = [p for p in glob.glob(os.path.join(out, "search_enas_s*")) if os.path.isdir(p)]
    for path in sorted(paths, key=_seed):
        run = report_data.read_run(path)
        records = run.marginal_epochs()
        if records:
            shown = [records[0], records[-1]]
            groups = [report_data.marginal_groups(run, r)[GROUP] for r in shown]
            found.append(
                (_seed(path), [(r["epoch"], *g) for r, g in zip(shown, groups)], run.space)
            )
    if not found:
        raise FileNotFoundError(
            f"`--out` must hold search_enas_s<seed>/ directories with logged marginals. "
            f"Received: --out={out!r}"
        )
    return found


def figure(found):
    """One row per seed, first | last epoch: a `Figure`."""
    from matplotlib import figure as mpl_figure

    from keras_enas import marginals_plot
    from keras_enas.report import data as report_data

    fig = mpl_figure.Figure(figsize=(7.2, 2.1 * len(found) + 0.5), dpi=80, layout="constrained")
    axes = fig.subplots(len(found), 2, squeeze=False)
    image = None
    for row, (seed, shown, space) in enumerate(found):
        labels = report_data.op_names(space, GROUP)
        for column, (epoch, names, matrix) in enumerate(shown):
            ax = axes[row, column]
            image = marginals_plot.draw_heatmap(
                ax,
                names if column == 0 else [""] * len(names),
                matrix,
                f"ENAS seed {seed}, epoch {epoch}",
                "activation",
            )
            ax.set_xticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(image, ax=axes, fraction=0.04, pad=0.02, label="probability")
    fig.suptitle("controller's activation probabilities, first vs last epoch", fontsize=10)
    return fig


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/cpu_study", help="Directory of the whole study.")
    p.add_argument(
        "--png", default="runs/cpu_study/activations.png", help="The figure written (PNG)."
    )
    args = p.parse_args()
    try:
        found = activations(os.path.abspath(args.out))
    except FileNotFoundError as e:
        print(f"cpu_study_figures: error: {e}", file=sys.stderr)
        return 2
    figure(found).savefig(args.png)
    print(f"Wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
