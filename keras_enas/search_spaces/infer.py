"""`infer_space`: the search space of a `fixed_arc` string, its size inferred from the length."""

from keras_enas.search_spaces import get_space, registry

__all__ = ["infer_space"]


def infer_space(search_space, fixed_arc, **sizes):
    """Builds the search space of `fixed_arc`, inferring its size from the arc's length.

    Each space's `SpaceSpec.infer` says how (ptb_rnn: 2N - 1 tokens original,
    2(N - 1) enas_lm; macro: L(L + 1)/2; micro: 8 per decided node).

    Args:
        search_space: a registered space name (`"ptb_rnn"`, `"macro"`, `"micro"`, ...).
        fixed_arc: the arc, whitespace-separated integers (`--child_fixed_arc`).
        **sizes: the space's size options; None (or absent) infers them. ptb_rnn:
            `arc_format` (`"enas_lm"` default, or `"original"`) and `num_nodes` (node 0
            included); macro: `num_layers`; micro: `num_nodes` (decided nodes per cell).

    Returns:
        A `SearchSpace` whose `arc_length` fits `fixed_arc` (when the sizes are inferred).
        The arc itself is not validated: call `space.parse(fixed_arc)`.

    Raises:
        ValueError: if `search_space` or `arc_format` is unknown, the arc is empty, its
            length fits no size of that space, or an option does not apply to
            `search_space`.
        TypeError: if `fixed_arc` is not a string.

    Example:
    >>> infer_space("macro", " ".join(["0"] * 78)).num_layers
    12
    """
    if not isinstance(fixed_arc, str):
        raise TypeError(f"`fixed_arc` must be a string. Received: fixed_arc={fixed_arc!r}")
    spec = registry.get_spec(search_space)
    num_tokens = len(fixed_arc.split())
    if not num_tokens:
        raise ValueError(
            f"`fixed_arc` must hold at least one token. Received: fixed_arc={fixed_arc!r}"
        )
    given = {k: v for k, v in sizes.items() if v is not None}
    for name, value in given.items():
        if name not in spec.size_options:
            raise ValueError(
                f"`{name}` does not apply to the {search_space} search space. "
                f"Received: {name}={value!r}"
            )
    kwargs = spec.infer(num_tokens, **given) if spec.infer else {}
    try:
        return get_space(search_space, **kwargs)
    except TypeError:  # e.g. a user space: its decisions are in the search's record
        raise ValueError(
            f"The {search_space!r} space cannot be inferred from an arc alone; "
            "give its search's best_architecture.json (--arc_file)."
        ) from None
