"""`search_report`: what a finished (or stopped) search did, in one Markdown file and PNGs.

`write_report(workdir)` reads `log.jsonl` (per-epoch metrics and the controller's
marginals) and `best_architecture.json` (the derived top k) and writes `report.md`,
`report.png` (curves), `report_marginals.png` (heat maps, first and last epoch) and
`report_top.png` (drawings of the top architectures). No TensorFlow: it works on any
space that the registry knows, the users' own included.
"""

from keras_enas.report.write import write_report

__all__ = ["write_report"]
