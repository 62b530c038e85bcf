"""`fixed_model`: the plain Keras model of one architecture of a supernet with choice layers."""

from collections.abc import Mapping, Sequence

import keras
import numpy as np

from keras_enas.choices import InputChoice, OpChoice
from keras_enas.search import user_schema


def _architecture(model, architecture):
    space = user_schema.space_of(model)
    if isinstance(architecture, dict):
        arc = space.encode(architecture)
    else:
        arc = space.validate(np.asarray(architecture).tolist())
    return space.decode(arc).to_dict()


def _picked(layer, value):
    """The input indices an InputChoice reduces, with multiplicity, in token order."""
    return value if isinstance(value, list) else [value]


def _reduce(layer, inputs, value):
    """The chosen inputs reduced with standard Keras layers (no keras_enas needed to load)."""
    chosen = [inputs[j] for j in _picked(layer, value)]
    if not chosen:  # any-subset choice with nothing chosen: zeros of the input's shape
        return keras.layers.Rescaling(0.0, name=layer.name)(inputs[0])
    if len(chosen) == 1:
        return chosen[0]
    reducer = {
        "sum": keras.layers.Add,
        "mean": keras.layers.Average,
        "concat": keras.layers.Concatenate,
    }[layer.reduction]
    return reducer(name=layer.name)(chosen)


def fixed_model(
    model: keras.Model,
    architecture: Mapping[str, int | Sequence[int]] | Sequence[int] | str,
    copy_weights: bool = False,
    name: str | None = None,
) -> keras.Model:
    """Returns a fresh Keras model holding only the chosen candidates of `model`.

    Each `OpChoice` is replaced by a clone of its chosen candidate, each `InputChoice`
    by its chosen input(s) reduced with `Add` / `Average` / `Concatenate` (or `Rescaling(0)`
    when an any-subset choice picked nothing); unchosen branches are dropped. The
    result uses only standard Keras layers, so it saves as `.keras` and loads without
    keras_enas, and exports as a SavedModel (`model.export`).

    Args:
        model: the supernet, a functional (or Sequential) keras Model with choice layers.
        architecture: `{choice name: index or list}` (`ENAS.best_architecture()`) or an arc.
        copy_weights: copy the supernet's (shared) weights into the new model instead of
            fresh initial weights (to check it computes the same function).
        name: name of the new model (default: `<model name>_fixed`).

    Returns:
        A new `keras.Model`.

    Raises:
        TypeError: if `model` is a subclassed model (it cannot be cloned).
        ValueError: if `architecture` does not fit the model's choices.

    Example:

    ```python
    final = keras_enas.fixed_model(supernet, {"block1": 2, "skip": 0})
    ```
    """
    if not isinstance(model, (keras.Sequential,)) and not _is_functional(model):
        raise TypeError(
            "`fixed_model` needs a functional or Sequential supernet (a subclassed "
            f"model cannot be cloned). Received: {type(model).__name__}"
        )
    choices = _architecture(model, architecture)
    pairs = []

    def clone(layer):
        source = layer.candidates[choices[layer.name]] if isinstance(layer, OpChoice) else layer
        new = source.__class__.from_config(source.get_config())
        pairs.append((source, new))
        return new

    def call(layer, *args, **kwargs):
        if isinstance(layer, InputChoice):
            return _reduce(layer, args[0], choices[layer.name])
        return layer(*args, **kwargs)

    kwargs = {} if isinstance(model, keras.Sequential) else {"call_function": call}
    fixed = keras.models.clone_model(model, clone_function=clone, recursive=True, **kwargs)
    if copy_weights:
        for source, new in pairs:
            if new.weights and not isinstance(source, InputChoice):
                new.set_weights(source.get_weights())
    return keras.Model(fixed.inputs, fixed.outputs, name=name or f"{model.name}_fixed")


def _is_functional(model):
    return (
        isinstance(model, keras.Model)
        and hasattr(model, "_inbound_nodes")
        and hasattr(model, "operations")
        and getattr(model, "_nodes_by_depth", None) is not None
    )


__all__ = ["fixed_model"]
