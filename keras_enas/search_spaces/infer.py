"""`infer_space`: the search space of a `fixed_arc` string, its size inferred from the length."""

import math

from keras_enas.search_spaces import SPACES, get_space
from keras_enas.search_spaces import rnn


def _rnn_num_nodes(num_tokens, arc_format):
    """N from an arc's length: original has 2N - 1 tokens, enas_lm 2(N - 1)."""
    if arc_format == "original":
        if num_tokens % 2 == 0 or num_tokens < 3:
            raise ValueError("An original ptb_rnn arc has 2N - 1 tokens with N >= 2 (an odd "
                             f"number >= 3); received {num_tokens}.")
        return (num_tokens + 1) // 2
    if num_tokens % 2:
        raise ValueError("An enas_lm ptb_rnn arc has 2(N - 1) tokens (an even number); "
                         f"received {num_tokens}.")
    return num_tokens // 2 + 1


def _macro_num_layers(num_tokens):
    """L from an arc's length L(L + 1) / 2."""
    num_layers = (math.isqrt(8 * num_tokens + 1) - 1) // 2
    if num_layers < 3 or num_layers * (num_layers + 1) // 2 != num_tokens:
        raise ValueError("A macro arc has L(L + 1)/2 tokens with L >= 3 (78 for L = 12, 300 "
                         f"for L = 24); received {num_tokens}.")
    return num_layers


def _micro_num_nodes(num_tokens):
    """Decided nodes per cell from an arc's length 8 * num_nodes."""
    if num_tokens % 8:
        raise ValueError("A micro arc has 8 tokens per decided node (40 for 5 nodes); "
                         f"received {num_tokens}.")
    return num_tokens // 8


def infer_space(search_space, fixed_arc, arc_format=None, num_nodes=None, num_layers=None):
    """Builds the search space of `fixed_arc`, inferring its size from the arc's length.

    Args:
        search_space: `"ptb_rnn"`, `"macro"` or `"micro"`.
        fixed_arc: the arc, whitespace-separated integers (`--child_fixed_arc`).
        arc_format: ptb_rnn only: `"enas_lm"` (the default) or `"original"`.
        num_nodes: ptb_rnn: nodes in the cell, node 0 included; micro: decided nodes
            per cell. None infers it from the number of tokens.
        num_layers: macro only: layers L. None infers it from the number of tokens.

    Returns:
        A `SearchSpace` whose `arc_length` fits `fixed_arc` (when the sizes are inferred).
        The arc itself is not validated: call `space.parse(fixed_arc)`.

    Raises:
        ValueError: if `search_space` or `arc_format` is unknown, the arc is empty, its
            length fits no size of that space, or an argument does not apply to
            `search_space`.
        TypeError: if `fixed_arc` is not a string.

    Example:
    >>> infer_space("macro", " ".join(["0"] * 78)).num_layers
    12
    """
    if not isinstance(fixed_arc, str):
        raise TypeError(f"`fixed_arc` must be a string. Received: fixed_arc={fixed_arc!r}")
    if search_space not in SPACES:
        raise ValueError(f"`search_space` must be one of {sorted(SPACES)}. "
                         f"Received: search_space={search_space!r}")
    num_tokens = len(fixed_arc.split())
    if not num_tokens:
        raise ValueError("`fixed_arc` must hold at least one token. "
                         f"Received: fixed_arc={fixed_arc!r}")
    unused = {"arc_format": (arc_format, search_space != "ptb_rnn"),
              "num_nodes": (num_nodes, search_space == "macro"),
              "num_layers": (num_layers, search_space != "macro")}
    for name, (value, not_applicable) in unused.items():
        if value is not None and not_applicable:
            raise ValueError(f"`{name}` does not apply to the {search_space} search space. "
                             f"Received: {name}={value!r}")
    if search_space == "ptb_rnn":
        arc_format = arc_format or "enas_lm"
        if arc_format not in rnn.ARC_FORMATS:
            raise ValueError(f"`arc_format` must be one of {sorted(rnn.ARC_FORMATS)}. "
                             f"Received: arc_format={arc_format!r}")
        if num_nodes is None:
            num_nodes = _rnn_num_nodes(num_tokens, arc_format)
        return get_space("ptb_rnn", num_nodes=num_nodes, arc_format=arc_format)
    if search_space == "macro":
        if num_layers is None:
            num_layers = _macro_num_layers(num_tokens)
        return get_space("macro", num_layers=num_layers)
    if num_nodes is None:  # micro
        num_nodes = _micro_num_nodes(num_tokens)
    return get_space("micro", num_nodes=num_nodes)
