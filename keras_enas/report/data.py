"""What a report reads from a search's working directory (no TensorFlow)."""

import dataclasses
import json
import os
import types

import numpy as np

from keras_enas import marginals as marginals_lib
from keras_enas.run import records
from keras_enas.run.files import read_json
from keras_enas.search_spaces import get_space, registry

__all__ = [
    "CONTROLLER_KEYS",
    "LOG",
    "SearchRun",
    "TRAIN_KEYS",
    "VALID_KEYS",
    "marginal_groups",
    "op_names",
    "read_run",
]

LOG = "log.jsonl"
# Per-epoch curves: (panel, log key, label). The first validation key present is used.
CONTROLLER_KEYS = (
    ("controller_reward", "reward (with entropy bonus)"),
    ("controller_raw_reward", "raw reward"),
    ("controller_baseline", "baseline"),
)
VALID_KEYS = ("val_ppl", "val_accuracy", "val_acc", "val_loss")
TRAIN_KEYS = ("ppl", "accuracy", "acc", "loss")


@dataclasses.dataclass
class SearchRun:
    """A search's records, read once.

    Attributes:
        workdir: the working directory.
        epochs: `log.jsonl` records, one per finished epoch.
        best: `best_architecture.json` as a dict, or None (search not derived yet).
        space: the run's `SearchSpace`, or None if neither file names it.
        config: `config.json` as a dict ({} if missing).
    """

    workdir: str
    epochs: list
    best: dict | None
    space: object
    config: dict

    @property
    def space_name(self):
        if self.space is not None:
            return self.space.name or type(self.space).__name__
        return self.config.get("search_space", "unknown")

    @property
    def strategy(self):
        if self.best:
            return self.best.get("strategy", "enas")
        section = self.config.get("search", self.config)
        return section.get("strategy", "enas")

    def series(self, key):
        """`(epochs, values)` of a per-epoch scalar (epochs lacking it are left out)."""
        pairs = [(r["epoch"], r[key]) for r in self.epochs if _finite(r.get(key))]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def first_key(self, keys):
        """The first of `keys` some epoch logged, or None."""
        return next((k for k in keys if any(_finite(r.get(k)) for r in self.epochs)), None)

    def marginal_epochs(self):
        """The epochs whose record holds the controller's marginals."""
        return [r for r in self.epochs if r.get("marginals")]


def _finite(value):
    return isinstance(value, (int, float)) and np.isfinite(value)


def read_run(workdir):
    """Reads a search's working directory into a `SearchRun`.

    Raises:
        FileNotFoundError: if `workdir` is not a directory or has no `log.jsonl`.
        ValueError: if `log.jsonl` has a line that is not JSON.
    """
    path = os.path.join(workdir or "", LOG)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`workdir` must be a search's working directory with a {LOG} (at least one "
            f"finished epoch). Received: workdir={workdir!r}"
        )
    epochs = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    epochs.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path} line {number} is not JSON: {e}") from None
    config_path = os.path.join(workdir, "config.json")
    config = read_json(config_path) if os.path.isfile(config_path) else {}
    best = None
    if os.path.isfile(os.path.join(workdir, records.BEST_ARCHITECTURE)):
        best = records.load_record(workdir)[1]
    return SearchRun(workdir, epochs, best, _space(best, config), config)


def _space(best, config):
    """The space from best_architecture.json, else from a built-in search's config.json."""
    if best is not None:
        try:
            return get_space(best["search_space"], **best["space_config"])
        except (TypeError, ValueError):
            return None
    name = config.get("search_space", "ptb_rnn" if "child" in config else None)
    try:
        spec = registry.get_spec(name)
    except (KeyError, ValueError):
        return None
    if spec.from_config is None or "child" not in config:
        return None
    return get_space(name, **spec.from_config(types.SimpleNamespace(**config["child"])))


def op_names(space, group):
    """Names of the choices of an op group of a built-in space (None if unknown)."""
    from keras_enas.search_spaces import macro, micro, rnn

    if group == "ops rnn_activation" and space is not None and hasattr(space, "arc_format"):
        return list(rnn.ARC_FORMATS[space.arc_format].activations)
    return {"ops macro_op": list(macro.MACRO_OPS), "ops micro_op": list(micro.MICRO_OPS)}.get(group)


def marginal_groups(run, record):
    """Heat-map groups (`marginals.heatmap_groups`) of one epoch record's marginals.

    Without a known space, tokens are grouped by their number of choices.
    """
    probs = tuple(np.asarray(p, np.float64) for p in record["marginals"]["probs"])
    space = run.space
    if space is not None and len(probs) == space.arc_length:
        m = marginals_lib.Marginals(space.token_names, probs, record["marginals"]["num_samples"])
        return marginals_lib.heatmap_groups(space.steps, m, space.sample_order)
    groups = {}
    for i, p in enumerate(probs):
        names, rows = groups.setdefault(f"tokens with {len(p)} choices", ([], []))
        names.append(f"token {i}")
        rows.append(p)
    return {k: (names, np.array(rows)) for k, (names, rows) in groups.items()}
