"""`best_architecture.json`: written by every search, read by training, tools and `load_search`.

No TensorFlow here (programs check an architecture file before importing it); the
drawing next to a record is made with matplotlib, imported when drawing.
"""

import os

from absl import logging

from keras_enas.run import faults
from keras_enas.run.files import read_json, write_json
from keras_enas.search_spaces import get_space, registry

__all__ = [
    "ARCHITECTURE_FILE",
    "BEST_ARCHITECTURE",
    "draw_architecture",
    "drawing_name",
    "ignore_fixed_arc",
    "load_record",
    "NOTE",
    "read_architecture",
    "result_record",
    "write_result",
]

BEST_ARCHITECTURE = "best_architecture.json"
ARCHITECTURE_FILE = "architecture.json"
NOTE = (
    "Scores are SEARCH-PHASE figures (shared weights); retrain the arc from scratch for "
    "final numbers."
)


def load_record(path):
    """Reads a `best_architecture.json` (or the search workdir holding it).

    Returns:
        `(path, record)`: the file's path and its dict, which has at least the keys
        `search_space`, `space_config` and `arc`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not valid JSON or lacks those keys.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, BEST_ARCHITECTURE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Architecture file not found: {path}")
    record = read_json(path)
    if not isinstance(record, dict) or not {"search_space", "space_config", "arc"} <= set(record):
        raise ValueError(
            f"{path} is not an architecture file: it needs the keys "
            "'search_space', 'space_config' and 'arc' (best_architecture.json)."
        )
    return path, record


def read_architecture(path, search_space=None):
    """The space and validated arc of a `best_architecture.json` (or its workdir).

    Args:
        path: the file, or the search working directory that holds it.
        search_space: if given, the space the file must hold.

    Returns:
        `(space, arc)`: the `SearchSpace` (built from the record's `space_config`) and
        its np.int32 arc.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not an architecture file (of `search_space`), its space is
            not registered, or its arc is invalid.
    """
    path, record = load_record(path)
    if search_space is not None and record["search_space"] != search_space:
        raise ValueError(
            f"{path} holds a {record['search_space']!r} architecture, but "
            f"search_space={search_space!r}."
        )
    name, space_config, arc = record["search_space"], record["space_config"], record["arc"]
    if not isinstance(name, str) or not isinstance(space_config, dict):
        raise ValueError(
            f"{path}: 'search_space' must be a string and 'space_config' a JSON object. "
            f"Received: search_space={_short(name)}, space_config={_short(space_config)}"
        )
    try:  # The sizes are checked (`search_spaces.limits`) before anything is built.
        space = get_space(name, **space_config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad 'space_config' {_short(space_config)}: {e}") from None
    if not isinstance(arc, (str, list)):
        raise ValueError(f"{path}: 'arc' must be a string of integers. Received: {_short(arc)}")
    try:
        return space, space.parse(arc)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


def _short(value, limit=200):
    """`repr(value)`, cut to `limit` characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ignore_fixed_arc(fixed_arc, arc_file, program=""):
    """The rule of every program: `arc_file` given ⇒ `fixed_arc` is ignored, with a notice.

    Returns:
        `fixed_arc`, or None when `arc_file` is set (a notice is logged if both were).
    """
    if arc_file and fixed_arc:
        logging.warning(
            "%s--arc_file=%s is given, so --fixed_arc=%r is ignored.",
            f"{program}: " if program else "",
            arc_file,
            fixed_arc,
        )
        return None
    return fixed_arc


def result_record(search, config, ranked, score_keys, **fields):
    """The `best_architecture.json` record of a search, `fields` added after the arc.

    Args:
        search: the search (its `space` decodes the arcs).
        config: the search config (its `search` section).
        ranked: `derive.derive`'s list, best first.
        score_keys: which scores of each ranked arc to keep, e.g. `("accuracy",)`.
        **fields: space-specific entries, e.g. `fixed_arc` and other arc formats.
    """
    space, s, best = search.space, config.search, ranked[0]["arc"]
    return {
        "search_space": space.name,
        "space_config": space.get_config(),
        "strategy": s.strategy,
        **fields,
        "arc": space.format_arc(best),
        "decoded": space.decode(best).to_dict(),
        "decoded_text": str(space.decode(best)),
        "scoring": s.derive_scoring,
        "scoring_num_batches": s.derive_num_batches if s.derive_scoring == "minibatch" else None,
        "picked_by": "train_from_scratch"
        if "from_scratch_reward" in ranked[0]
        else "shared_weights",
        "top_k": [
            {
                "arc": space.format_arc(r["arc"]),
                "decoded_text": str(space.decode(r["arc"])),
                **{k: r[k] for k in score_keys},
                **{k: v for k, v in r.items() if k.startswith("from_scratch_")},
            }
            for r in ranked[: s.derive_top_k]
        ],
        "scores": [
            {"arc": space.format_arc(r["arc"]), **{k: r[k] for k in score_keys}} for r in ranked
        ],
        "note": NOTE,
    }


def write_result(workdir, record):
    """Writes `record` as `<workdir>/best_architecture.json`; returns the path."""
    path = os.path.join(workdir, BEST_ARCHITECTURE)
    write_json(path, record)
    faults.point("result_write")
    return path


def drawing_name(space):
    """The file name of the drawing of `space`'s architectures (`cell.png` for ptb_rnn)."""
    return registry.get_spec(space.name).drawing


def draw_architecture(directory, space, arc):
    """Draws `space.decode(arc)` into `directory` with the space's registered drawer.

    The searches call this next to `best_architecture.json`, the exports next to the
    SavedModel. Returns the path (`cell.png`, `network.png`, `cells.png`, ...).
    """
    from keras_enas import draw  # matplotlib, only when drawing

    spec = registry.get_spec(space.name)
    return draw.draw(
        space.decode(space.validate(arc)),
        os.path.join(directory, spec.drawing),
        drawer=spec.resolve("drawer"),
    )
