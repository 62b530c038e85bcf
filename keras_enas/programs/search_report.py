r"""Write a report of a search: curves, the controller's heat maps, the top architectures.

Reads <workdir>/log.jsonl and best_architecture.json (any search: search_ptb,
search_cifar10, keras_enas.ENAS with a workdir) and writes report.md, report.png (reward,
baseline, entropy, validation and training curves), report_marginals.png (per-decision
probabilities, first vs last epoch) and report_top.png (the top architectures drawn) into
the same directory. No TensorFlow is imported.

Example:
    search_report --workdir=runs/ptb_cpu
"""

import sys

from absl import app

from keras_enas import cli
from keras_enas.config import report as report_config
from keras_enas.programs import common

__all__ = ["define_flags", "main", "run"]


def define_flags():
    """Defines the report's flags (one per `SearchReportConfig` field)."""
    cli.define_flags(report_config.SearchReportConfig)


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = cli.config_from_flags(report_config.SearchReportConfig)
        from keras_enas import report

        written = report.write_report(config.workdir, top_k=config.top_k)
    except (ValueError, FileNotFoundError) as e:
        print(f"search_report: error: {e}", file=sys.stderr)
        return 2
    for path in written.values():
        print(f"Wrote {path}")
    return 0


def main():
    """The `search_report` command."""
    common.start(__doc__, define_flags, run)
