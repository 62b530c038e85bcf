"""The CIFAR-10 models of the registered spaces: their options, builders and final callbacks.

Each CIFAR space's `SpaceSpec` (`keras_enas.search_spaces.registry`) names:

- `shared(space, **options)`: the shared-weight CNN. It follows
  `call(images (B, H, W, 3) float32, arc int32 [arc_length], training=False)`
  → `(logits (B, 10), aux_logits or None)`, and may define `l2_penalty(arc)`
  (Σw² over the weights `arc` uses; else the search takes Σw² over all weights);
- `fixed(space, arc, **options)`: a plain functional `keras.Model` with the logits
  as output (a second output, the aux logits, when it has an aux head);
- `options(child, final, jit_compile)`: the keyword arguments both builders take
  from a `CIFARChildConfig` (`final` is True when training a found arc from
  scratch; `jit_compile` whether the search's steps are XLA-compiled);
- `final_callbacks(model, child)`: extra Keras callbacks of the final training
  (e.g. a drop-path schedule); the macro network needs none.

This module holds the built-in spaces' option and callback functions, and reads
those entries for any registered CIFAR space.
"""

from keras_enas.layers.drop_path import DropPathSchedule, drop_path_layers
from keras_enas.search_spaces import get_space, registry

__all__ = [
    "build_fixed_cnn",
    "build_shared_cnn",
    "family",
    "final_callbacks",
    "macro_options",
    "micro_final_callbacks",
    "micro_options",
    "no_final_callbacks",
    "options_from_config",
    "space_from_config",
]


def macro_options(child, final=False, jit_compile=False):
    """Macro builder kwargs from a `CIFARChildConfig`: `filters`, `dropout`."""
    del jit_compile  # the macro models take the same options in search and training
    if not final and child.weight_sharing != "fine":
        raise ValueError(  # every macro op reads one input: per (layer, input) = per layer
            "The macro search shares weights per (layer, op) only (each op reads the "
            "previous layer alone, so there is no input to share by). Received: "
            f"weight_sharing={child.weight_sharing!r}; expected 'fine'"
        )
    if not final and (child.recompute_cells or child.search_sep_conv_recompute() != "none"):
        flag, value = (
            ("recompute_cells", True)
            if child.recompute_cells
            else ("sep_conv_recompute", repr(child.sep_conv_recompute))
        )
        raise ValueError(  # Keras BN layers update their moving statistics: not pure
            f"Recomputing (--child_{flag}) is for the micro search only; the macro "
            "search's layers update batch-norm statistics, which a recomputation would "
            f"apply twice. Received: {flag}={value} with the macro space"
        )
    return dict(filters=child.filters, dropout=child.dropout)


def micro_options(child, final=False, jit_compile=False):
    """Micro builder kwargs from a `CIFARChildConfig` (op selection or drop-path)."""
    options = dict(
        num_layers=child.num_layers,
        filters=child.filters,
        dropout=child.dropout,
        use_aux_head=child.aux_weight > 0,
    )
    if not final:  # the shared cells: only the sampled op, unless XLA needs static masks
        options["op_selection"] = (
            child.op_selection
            if child.op_selection != "auto"
            else ("compute_all" if jit_compile else "switch_case")
        )
        options["weight_sharing"] = child.weight_sharing
        options["recompute_cells"] = child.recompute_cells
        options["sep_conv_recompute"] = child.search_sep_conv_recompute()
    else:  # drop-path only in final training; keep probability 1 means off
        keep = child.drop_path_keep_prob
        options["drop_path_keep_prob"] = None if keep >= 1.0 else keep
    return options


def micro_final_callbacks(model, child):
    """The drop-path schedule, when the final micro network has drop-path layers."""
    del child  # the schedule spans the fit call: epochs x steps per epoch
    return [DropPathSchedule()] if drop_path_layers(model) else []


def no_final_callbacks(model, child):
    """The final training of a macro network needs no extra callbacks."""
    del model, child
    return []


def family(name):
    """The `SpaceSpec` of CIFAR-10 search space `name`.

    Raises:
        ValueError: if no CIFAR-10 models are registered for `name`.
    """
    cifar = registry.space_names("cifar")
    if name not in cifar:
        raise ValueError(
            f"No CIFAR-10 models are registered for search space {name!r}; "
            f"available: {sorted(cifar)}."
        )
    return registry.get_spec(name)


def build_shared_cnn(space, **kwargs):
    """Builds the shared-weight CNN of `space` (e.g. `filters=36, dropout=0.1, seed=0`)."""
    return family(space.name).resolve("shared")(space, **kwargs)


def build_fixed_cnn(space, arc, **kwargs):
    """Builds the functional `keras.Model` of one `arc` of `space` (e.g. `filters=96`)."""
    return family(space.name).resolve("fixed")(space, arc, **kwargs)


def space_from_config(name, child):
    """The search space `name` sized by a `CIFARChildConfig` (e.g. `num_layers`)."""
    spec = family(name)
    return get_space(name, **spec.from_config(child))


def options_from_config(name, child, final=False, jit_compile=False):
    """The model keyword arguments of space `name` read from a `CIFARChildConfig`.

    `final`: for the fixed network of a final training (else the shared one);
    `jit_compile`: whether the search compiles its steps with XLA.
    """
    return family(name).resolve("options")(child, final, jit_compile)


def final_callbacks(name, model, child):
    """Extra callbacks the final training of a space-`name` `model` needs."""
    return list(family(name).resolve("final_callbacks")(model, child))
