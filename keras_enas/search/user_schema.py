"""A model's choice layers: the `UserSpace` they declare, and setting their selections."""

from collections.abc import Mapping, Sequence

import keras
import numpy as np

from keras_enas.choices import CHOICE_LAYERS, OpChoice
from keras_enas.search_spaces.user import UserSpace


def _children(layer):
    if isinstance(layer, keras.Model) and hasattr(layer, "layers"):
        return list(layer.layers)
    return list(layer._flatten_layers(include_self=False, recursive=False))


def choice_layers(model):
    """The choice layers of `model` in topological order (functional models) or creation
    order (subclassed), nested models included.

    Raises:
        ValueError: if a choice is nested inside another choice's candidates, or two
            choices share a name.
    """
    found, seen = [], set()

    def walk(layer):
        for sub in _children(layer):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            if isinstance(sub, CHOICE_LAYERS):
                found.append(sub)
                if isinstance(sub, OpChoice):
                    for candidate in sub.candidates:
                        inner = [
                            x.name
                            for x in candidate._flatten_layers()
                            if isinstance(x, CHOICE_LAYERS)
                        ]
                        if inner:
                            raise ValueError(
                                f"Choices nested in a candidate of OpChoice {sub.name!r} are "
                                f"not supported (found {inner}). Put them side by side."
                            )
            else:
                walk(sub)

    walk(model)
    names = [c.name for c in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"Choice names must be unique in a model. Received duplicates: {duplicates}"
        )
    return found


def _input_names(layer):
    """Names of the layers producing an InputChoice's inputs (functional), else input<j>."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if nodes:
        tensors = nodes[0].input_tensors
        names = [t._keras_history.operation.name for t in tensors]
        if len(names) == layer.num_inputs:
            return names
    return [f"input{j}" for j in range(layer.num_inputs)]


def describe(layer):
    """The JSON-able `UserSpace` entry of one choice layer."""
    if isinstance(layer, OpChoice):
        return {
            "name": layer.name,
            "kind": "op",
            "candidates": layer.candidate_names,
            "num_chosen": 1,
            "inputs": _input_names_op(layer),
        }
    if not layer.built:
        raise ValueError(
            f"InputChoice {layer.name!r} is not built: call the model once (or "
            "build it functionally) before searching it."
        )
    names = _input_names(layer)
    return {
        "name": layer.name,
        "kind": "input",
        "candidates": names,
        "num_chosen": layer.num_chosen,
        "reduction": layer.reduction,
        "inputs": names,
    }


def _input_names_op(layer):
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if nodes:
        return [t._keras_history.operation.name for t in nodes[0].input_tensors]
    return []


def space_of(model: keras.Model) -> UserSpace:
    """Infers the `UserSpace` of a model containing OpChoice/InputChoice layers.

    Raises:
        ValueError: if the model has no choice layer (or see `choice_layers`).
    """
    layers = choice_layers(model)
    if not layers:
        raise ValueError(
            f"Model {model.name!r} contains no OpChoice or InputChoice layer; "
            "there is nothing to search."
        )
    return UserSpace([describe(layer) for layer in layers])


def slots(model, space):
    """`[(layer, first arc position, number of tokens)]` for assigning an arc."""
    offsets = space.offsets()
    return [(layer, *offsets[layer.name]) for layer in choice_layers(model)]


def assign(slot_list, arc):
    """Sets every choice's `selection` from the arc tensor (in-graph: no retrace)."""
    for layer, start, count in slot_list:
        if isinstance(layer, OpChoice):
            layer.selection.assign(arc[start])
        else:
            layer.selection.assign(arc[start : start + count])


def set_architecture(
    model: keras.Model, architecture: Mapping[str, int | Sequence[int]] | Sequence[int] | str
) -> np.ndarray:
    """Sets the selections of `model`'s choices to `architecture` (eagerly).

    Args:
        model: a model with choice layers.
        architecture: `{choice name: index or list}` (as `best_architecture` returns)
            or an arc.

    Returns:
        The arc, np.int32.
    """
    space = space_of(model)
    arc = (
        space.encode(architecture)
        if isinstance(architecture, dict)
        else space.validate(architecture)
    )
    assign(slots(model, space), np.asarray(arc, np.int32))
    return arc


def set_op_selection(model, op_selection):
    """Sets `op_selection` of every choice layer (`"switch_case"` or `"compute_all"`)."""
    for layer in choice_layers(model):
        layer.op_selection = op_selection


__all__ = [
    "assign",
    "choice_layers",
    "describe",
    "set_architecture",
    "set_op_selection",
    "slots",
    "space_of",
]
