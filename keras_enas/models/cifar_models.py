"""The CIFAR-10 model registry: which shared and fixed CNNs serve each search space.

A search space plugs into `search_cifar10` and `train_cifar10` through ONE entry of
`FAMILIES`, keyed by `space.name`:

- `space(child)`: the search space a search builds from a `CIFARChildConfig`;
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
"""

import collections

from keras_enas.layers.drop_path import DropPathSchedule, drop_path_layers
from keras_enas.models import fixed_macro, fixed_micro, shared_macro, shared_micro
from keras_enas.search_spaces.macro import MacroSpace
from keras_enas.search_spaces.micro import MicroSpace

CNNFamily = collections.namedtuple(
    "CNNFamily", ["space", "shared", "fixed", "options", "final_callbacks"])


def _macro_options(child, final=False, jit_compile=False):
    del jit_compile  # the macro models take the same options in search and training
    if not final and child.weight_sharing != "fine":
        raise ValueError("The macro search shares weights per (layer, op) only. Received: "
                         f"weight_sharing={child.weight_sharing!r}; expected 'fine'")
    return dict(filters=child.filters, dropout=child.dropout)


def _micro_options(child, final=False, jit_compile=False):
    options = dict(num_layers=child.num_layers, filters=child.filters, dropout=child.dropout,
                   use_aux_head=child.aux_weight > 0)
    if not final:  # the shared cells: only the sampled op, unless XLA needs static masks
        options["op_selection"] = child.op_selection if child.op_selection != "auto" else (
            "compute_all" if jit_compile else "switch_case")
        options["weight_sharing"] = child.weight_sharing
    else:  # drop-path only in final training; keep probability 1 means off
        keep = child.drop_path_keep_prob
        options["drop_path_keep_prob"] = None if keep >= 1.0 else keep
    return options


def _micro_final_callbacks(model, child):
    del child  # the schedule spans the fit call: epochs x steps per epoch
    return [DropPathSchedule()] if drop_path_layers(model) else []


FAMILIES = {
    "macro": CNNFamily(space=lambda child: MacroSpace(child.num_layers),
                       shared=shared_macro.SharedMacroCNN,
                       fixed=fixed_macro.build_fixed_macro,
                       options=_macro_options,
                       final_callbacks=lambda model, child: []),
    "micro": CNNFamily(space=lambda child: MicroSpace(),
                       shared=shared_micro.SharedMicroCNN,
                       fixed=fixed_micro.build_fixed_micro_cnn,
                       options=_micro_options,
                       final_callbacks=_micro_final_callbacks),
}


def family(name):
    """The `CNNFamily` of search space `name`.

    Raises:
        ValueError: if no CIFAR-10 models are registered for `name`.
    """
    if name not in FAMILIES:
        raise ValueError(f"No CIFAR-10 models are registered for search space {name!r}; "
                         f"available: {sorted(FAMILIES)}.")
    return FAMILIES[name]


def build_shared_cnn(space, **kwargs):
    """Builds the shared-weight CNN of `space` (e.g. `filters=36, dropout=0.1, seed=0`)."""
    return family(space.name).shared(space, **kwargs)


def build_fixed_cnn(space, arc, **kwargs):
    """Builds the functional `keras.Model` of one `arc` of `space` (e.g. `filters=96`)."""
    return family(space.name).fixed(space, arc, **kwargs)


def space_from_config(name, child):
    """The search space `name` sized by a `CIFARChildConfig` (e.g. `num_layers`)."""
    return family(name).space(child)


def options_from_config(name, child, final=False, jit_compile=False):
    """The model keyword arguments of space `name` read from a `CIFARChildConfig`.

    `final`: for the fixed network of a final training (else the shared one);
    `jit_compile`: whether the search compiles its steps with XLA.
    """
    return family(name).options(child, final, jit_compile)


def final_callbacks(name, model, child):
    """Extra callbacks the final training of a space-`name` `model` needs."""
    return list(family(name).final_callbacks(model, child))
