"""`UserSpace`: the decision schema of a user's model built from OpChoice/InputChoice layers.

Pure Python: the space is described by a JSON-able list of choices (as
`keras_enas.search.user.space_of(model)` infers it from a model), so `show_arc`,
drawings and exports can rebuild it from `best_architecture.json` without the model.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_enas.search_spaces import base, limits, space

__all__ = ["UserArchitecture", "UserSpace"]


@dataclasses.dataclass(frozen=True)
class UserArchitecture:
    """A decoded user architecture: `{choice name: index, or list of indices}`.

    Op choices and single-input choices map to an int; input choices with
    `num_chosen=k > 1` to the list of k picked input indices; any-subset input
    choices (`num_chosen=None`) to the sorted list of chosen input indices.
    """

    choices: tuple  # ((name, value, candidate names), ...) in schema order
    # The space's choice dicts (for drawing the graph from the architecture alone).
    space_choices: tuple = dataclasses.field(default=(), compare=False, repr=False)

    def to_dict(self):
        """`{name: index or list of indices}`, JSON-ready."""
        return {name: value for name, value, _ in self.choices}

    def __str__(self):
        rows = [f"UserArchitecture: {len(self.choices)} choices"]
        for name, value, names in self.choices:
            picked = [names[i] for i in (value if isinstance(value, list) else [value])]
            rows.append(f"  {name}: {value}  ({', '.join(picked) or 'none'})")
        return "\n".join(rows)


def _check_choice(i, choice):
    keys = {"name", "kind", "candidates", "num_chosen"}
    if not isinstance(choice, dict) or not keys <= set(choice):
        raise ValueError(
            f"`choices[{i}]` must be a dict with keys {sorted(keys)}. Received: {choice!r}"
        )
    if choice["kind"] not in ("op", "input"):
        raise ValueError(
            f"`choices[{i}]['kind']` must be 'op' or 'input'. Received: {choice['kind']!r}"
        )
    name, candidates, k = choice["name"], choice["candidates"], choice["num_chosen"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"`choices[{i}]['name']` must be a non-empty string. Received: {name!r}")
    if not isinstance(candidates, (list, tuple)) or not candidates:
        raise ValueError(f"Choice {name!r} must list its candidates. Received: {candidates!r}")
    _size(f"choices[{i}] ({name}) candidates", len(candidates), limits.USER_NUM_CANDIDATES)
    if k is not None or choice["kind"] == "op":
        _size(f"choices[{i}] ({name}) num_chosen", k, limits.USER_NUM_CANDIDATES)


def _size(name, value, bounds):
    """`limits.check_size` with a wrong type reported as a ValueError (a bad file)."""
    try:
        return limits.check_size(name, value, bounds)
    except TypeError as e:
        raise ValueError(str(e)) from None


class UserSpace(space.SearchSpace):
    """The search space of a model's choice layers, in topological order.

    Schema (one controller for every space): an op choice over K candidates is one
    `OpChoice` token (its own vocabulary); an input choice with `num_chosen=k` is k
    `OpChoice` tokens over its N inputs (one vocabulary); an any-subset input choice
    (`num_chosen=None`) is a `SkipChoice` of N bits by attention, like the macro skips:
    `AnchorStep`s are inserted before it while fewer than N anchors exist, and it
    registers an anchor. Tokens of one choice are contiguous, choices in order.

    Args:
        choices: list of dicts `{"name", "kind": "op" | "input", "candidates": [names],
            "num_chosen": 1 | k | None, "reduction" (input only), "inputs" (optional:
            producer names, for drawings)}`.

    Raises:
        ValueError: if `choices` is empty, malformed, or has duplicate names.

    Example:
    >>> s = UserSpace([{"name": "b1", "kind": "op", "candidates": ["c3", "c5"],
    ...                 "num_chosen": 1}])
    >>> s.decode([1]).to_dict()
    {'b1': 1}
    """

    name = "user"

    def __init__(self, choices: Sequence[Mapping[str, Any]]) -> None:
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ValueError(
                f"`choices` must list at least one choice. Received: choices={choices!r}"
            )
        _size("number of choices", len(choices), limits.USER_NUM_CHOICES)
        names = set()
        for i, choice in enumerate(choices):
            _check_choice(i, choice)
            if choice["name"] in names:
                raise ValueError(
                    f"Choice names must be unique. Received duplicate name {choice['name']!r}"
                )
            names.add(choice["name"])
        self.choices = [dict(c) for c in choices]
        steps, anchors = [], 0
        for c in self.choices:
            n = len(c["candidates"])
            if c["kind"] == "op":
                steps.append(base.OpChoice(c["name"], c["name"], n))
            elif c["num_chosen"] is None:
                while anchors < n:
                    steps.append(base.AnchorStep(f"{c['name']}_anchor{anchors}"))
                    anchors += 1
                steps.append(base.SkipChoice(c["name"], n, register_anchor=True))
                anchors += 1
            else:
                k = c["num_chosen"]
                steps += [
                    base.OpChoice(c["name"] if k == 1 else f"{c['name']}_{j}", c["name"], n)
                    for j in range(k)
                ]
        super().__init__(steps)

    def get_config(self):
        return {"choices": [dict(c) for c in self.choices]}

    def offsets(self):
        """`{name: (first arc position, number of tokens)}` of every choice."""
        out, position = {}, 0
        for c in self.choices:
            count = _num_tokens(c)
            out[c["name"]] = (position, count)
            position += count
        return out

    def decode(self, arc):
        """Returns the `UserArchitecture` of a (validated) arc."""
        arc = self.validate(arc)
        result = []
        for c in self.choices:
            start, count = self.offsets()[c["name"]]
            tokens = arc[start : start + count].tolist()
            if c["kind"] == "op" or c["num_chosen"] == 1:
                value = tokens[0]
            elif c["num_chosen"] is None:
                value = [j for j, bit in enumerate(tokens) if bit]
            else:
                value = tokens
            result.append((c["name"], value, tuple(c["candidates"])))
        return UserArchitecture(tuple(result), tuple(self.choices))

    def encode(self, architecture):
        """Returns the np.int32 arc of `{name: index or list}` (or a `UserArchitecture`).

        Raises:
            ValueError: on a missing or unknown name or an out-of-range value.
        """
        if isinstance(architecture, UserArchitecture):
            architecture = architecture.to_dict()
        missing = [c["name"] for c in self.choices if c["name"] not in architecture]
        unknown = sorted(set(architecture) - {c["name"] for c in self.choices})
        if missing or unknown:
            raise ValueError(
                f"`architecture` must give every choice of the space exactly. "
                f"Missing: {missing}; unknown: {unknown}"
            )
        arc = []
        for c in self.choices:
            value = architecture[c["name"]]
            if c["kind"] == "input" and c["num_chosen"] is None:
                chosen = set(_as_list(value, c["name"]))
                if not chosen <= set(range(len(c["candidates"]))):
                    raise ValueError(
                        f"Choice {c['name']!r}: indices must be in "
                        f"[0, {len(c['candidates']) - 1}]. Received: {value!r}"
                    )
                arc += [int(j in chosen) for j in range(len(c["candidates"]))]
            else:
                arc += _as_list(value, c["name"])
        return self.validate(arc)


def _num_tokens(choice):
    if choice["kind"] == "op":
        return 1
    return len(choice["candidates"]) if choice["num_chosen"] is None else choice["num_chosen"]


def _as_list(value, name):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in value):
        return [int(v) for v in value]
    raise ValueError(f"Choice {name!r} must be an int or a list of ints. Received: {value!r}")
