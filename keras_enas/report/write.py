"""`write_report`: reads a search's working directory, writes report.md and the PNGs."""

import os

from keras_enas.report import data as data_lib
from keras_enas.report import figures, markdown
from keras_enas.search_spaces import registry

__all__ = ["CURVES", "MARGINALS", "REPORT", "TOP", "write_report"]

REPORT, CURVES, MARGINALS, TOP = "report.md", "report.png", "report_marginals.png", "report_top.png"


def write_report(workdir: str, top_k: int = 5) -> dict[str, str]:
    """Writes `report.md`, `report.png`, `report_marginals.png`, `report_top.png` into
    `workdir` (the last two only when the search logged marginals / derived its arcs).

    Args:
        workdir: a search's working directory (search_ptb, search_cifar10, or
            `keras_enas.ENAS(..., workdir=...)`), finished or stopped after an epoch.
        top_k: how many of the top architectures to list and draw.

    Returns:
        The paths written, a dict `{"report": ..., "curves": ..., ...}`.

    Raises:
        FileNotFoundError: if `workdir` holds no `log.jsonl`.
        ValueError: if `top_k` < 1 or a file of the run is malformed.

    Example:
    >>> keras_enas.report.write_report("runs/ptb_cpu")["report"]  # doctest: +SKIP
    'runs/ptb_cpu/report.md'
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"`top_k` must be an int >= 1. Received: top_k={top_k!r}")
    run = data_lib.read_run(workdir)
    written = {}
    drawer = None
    if run.space is not None and run.space.name:
        drawer = registry.get_spec(run.space.name).resolve("drawer")
    for key, name, make in (
        ("curves", CURVES, lambda: figures.curves_figure(run)),
        ("marginals", MARGINALS, lambda: figures.marginals_figure(run)),
        ("top", TOP, lambda: drawer and figures.top_figure(run, top_k, drawer)),
    ):
        fig = make()
        if fig is not None:
            path = os.path.join(workdir, name)
            fig.savefig(path, bbox_inches="tight")
            written[key] = path
    names = [os.path.basename(p) for p in written.values()]
    path = os.path.join(workdir, REPORT)
    with open(path, "w") as f:
        f.write(markdown.report_text(run, names, top_k))
    written["report"] = path
    return written
