"""JSON files of a run, written atomically (no TensorFlow)."""

import json
import os

import numpy as np


def plain(value):
    """`value` as a JSON-ready Python value (numpy scalars/arrays and tensors converted)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if hasattr(value, "numpy"):
        return plain(value.numpy())
    return value


def write_json(path, obj):
    """Writes `obj` as indented JSON atomically (temp file + rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=plain)
    os.replace(tmp, path)


def read_json(path):
    """Reads a JSON file.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if it is not valid JSON.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"File not found: {path}")
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
