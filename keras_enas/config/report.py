"""Configuration of `search_report`: a search's curves, heat maps and top architectures."""

import dataclasses

from keras_enas.config.base import Validated
from keras_enas.config.base import field as _field

__all__ = ["SearchReportConfig"]


@dataclasses.dataclass(frozen=True)
class SearchReportConfig(Validated):
    """Which search to report on and how much of it to draw."""

    workdir: str | None = _field(
        None,
        "Working directory of a search (search_ptb, search_cifar10 or keras_enas.ENAS with "
        "a workdir): its log.jsonl and best_architecture.json are read, and report.md, "
        "report.png, report_marginals.png and report_top.png are written into it.",
    )
    top_k: int = _field(
        5,
        "Top architectures of best_architecture.json drawn and listed (at most as many as "
        "the search kept, --search_derive_top_k).",
        lower=1,
    )
