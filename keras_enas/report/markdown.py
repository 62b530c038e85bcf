"""The text of `report.md`: run summary, per-epoch table, what the controller learned, top k."""

import numpy as np

from keras_enas.report import data as data_lib

__all__ = ["COLUMNS", "report_text"]

COLUMNS = (
    ("epoch", "epoch", "d"),
    ("controller_reward", "reward", ".4g"),
    ("controller_baseline", "baseline", ".4g"),
    ("controller_entropy", "entropy", ".2f"),
    ("seconds", "seconds", ".0f"),
)


def report_text(run, images, top_k):
    """The Markdown report of `run` (a `data.SearchRun`); `images` are the PNG file names
    written next to it (None entries are skipped)."""
    lines = [
        f"# Search report: {run.space_name} ({run.strategy})",
        "",
        f"Working directory `{run.workdir}`: {len(run.epochs)} epochs logged"
        + ("" if run.best else "; no `best_architecture.json` yet (search not derived)."),
        "",
    ]
    lines += [f"![{name}]({name})" for name in images if name] + [""]
    lines += _epoch_table(run) + [""] + _marginal_summary(run) + [""] + _top(run, top_k)
    return "\n".join(lines) + "\n"


def _epoch_table(run):
    valid = run.first_key(data_lib.VALID_KEYS)
    train = run.first_key(data_lib.TRAIN_KEYS)
    columns = list(COLUMNS[:1])
    columns += [(k, k, ".4g") for k in (train, valid) if k]
    columns += list(COLUMNS[1:])
    lines = [
        "## Per epoch",
        "",
        "| " + " | ".join(c[1] for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in run.epochs:
        cells = [_cell(r.get(key), spec) for key, _, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _cell(value, spec):
    if isinstance(value, (int, float)) and np.isfinite(value):
        return format(value, spec) if spec != "d" else str(int(value))
    return "–"


def _marginal_summary(run):
    """Per decision group: mean over decisions of the largest probability, first → last."""
    records = run.marginal_epochs()
    lines = ["## What the controller learned", ""]
    if not records:
        return lines + ["No epoch logged the controller's marginals."]
    first, last = (data_lib.marginal_groups(run, r) for r in (records[0], records[-1]))
    lines += [
        f"Mean over decisions of the most likely choice's probability (1 / choices when "
        f"uniform, 1 when decided; a skip bit counts max(P(on), P(off))), epoch {records[0]['epoch']} → {records[-1]['epoch']} "
        f"({records[-1]['marginals']['num_samples']} sampled arcs each):",
        "",
        "| decision group | decisions | first | last | most likely choices, last epoch |",
        "|---|---|---|---|---|",
    ]
    for name, (names, matrix) in last.items():
        before = first[name][1]
        labels = data_lib.op_names(run.space, name)
        argmax = [f"{n}: {_best(name, row, labels)}" for n, row in zip(names, matrix)]
        shown = ", ".join(argmax[:12]) + (" …" if len(argmax) > 12 else "")
        lines.append(
            f"| {name} | {len(names)} | {_mean_max(name, before):.3f} | {_mean_max(name, matrix):.3f} | "
            f"{shown} |"
        )
    return lines


def _best(group, row, labels=None):
    """`choice (probability)` of a row; a skip row lists the anchors with P(on) > 0.5."""
    if group == "skips":
        on = [str(j) for j, p in enumerate(row) if np.isfinite(p) and p > 0.5]
        return "on " + (",".join(on) if on else "none")
    j = int(np.nanargmax(row))
    name = labels[j] if labels and j < len(labels) else str(j)
    return f"{name} ({row[j]:.2f})"


def _mean_max(group, matrix):
    """Mean of each decision's largest probability (a skip bit's: max(P(on), P(off)))."""
    if group == "skips":
        values = matrix[np.isfinite(matrix)]
        return float(np.mean(np.maximum(values, 1 - values))) if values.size else float("nan")
    return float(np.nanmax(matrix, axis=1).mean())


def _top(run, top_k):
    lines = ["## Top architectures", ""]
    if not run.best:
        return lines + ["None derived yet."]
    items = (run.best.get("top_k") or [{"arc": run.best["arc"]}])[:top_k]
    keys = [k for k, v in items[0].items() if k not in ("arc", "decoded_text") and _num(v)]
    lines += [
        "| rank | " + " | ".join(keys) + " | arc |",
        "|---|" + "---|" * len(keys) + "---|",
    ]
    for rank, item in enumerate(items, 1):
        scores = " | ".join(format(item[k], ".4g") for k in keys)
        lines.append(f"| {rank} | {scores} | `{item['arc']}` |")
    note = run.best.get("note", "")
    lines += ["", "Best:", "", "```", run.best.get("decoded_text", run.best["arc"]), "```"]
    return lines + (["", note] if note else [])


def _num(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
