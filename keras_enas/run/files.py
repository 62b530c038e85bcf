"""JSON files of a run, written atomically (no TensorFlow)."""

import json
import math
import os

import numpy as np

__all__ = ["MAX_JSON_BYTES", "plain", "read_json", "write_json", "finite_json"]


def plain(value):
    """`value` as a JSON-ready Python value (numpy scalars/arrays and tensors converted)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if hasattr(value, "numpy"):
        return plain(value.numpy())
    return value


def finite_json(value):
    """`value` (nested dicts/lists/numbers/arrays) with NaN and ±inf floats made None.

    JSON has no NaN or Infinity; Python's `json` would write them as bare `NaN`, which
    other readers reject. A diverged figure reads as `null`.
    """
    value = plain(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_json(path, obj):
    """Writes `obj` as indented JSON atomically (temp file + rename); NaN/inf as null."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(finite_json(obj), f, indent=2, default=plain, allow_nan=False)
    os.replace(tmp, path)


# A run's JSON files are kilobytes (a best_architecture.json with 100k scored arcs: ~10 MB).
MAX_JSON_BYTES = 64 * 2**20


def read_json(path, expect=None):
    """Reads a JSON file.

    Args:
        path: the file.
        expect: if given, the type the top-level value must have (e.g. `dict`).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: naming `path`, if it is larger than `MAX_JSON_BYTES`, not UTF-8, not
            valid JSON, or its value is not an `expect`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"File not found: {path}")
    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise ValueError(
            f"{path} is not a keras_enas JSON file: it has {size} bytes (at most "
            f"{MAX_JSON_BYTES} expected)."
        )
    with open(path, "rb") as f:
        data = f.read()
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not valid JSON: not UTF-8 text ({e.reason} at byte {e.start})."
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{path} is not valid JSON: nested too deeply.") from None
    if expect is not None and not isinstance(value, expect):
        raise ValueError(
            f"{path} must hold a JSON {'object' if expect is dict else expect.__name__}. "
            f"Received: a JSON {_json_kind(value)}"
        )
    return value


def _json_kind(value):
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")
