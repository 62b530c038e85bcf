"""Search spaces as data: decision schemas, arc codecs, decoded architectures, the registry.

Pure Python + numpy; nothing here imports TensorFlow.
"""

from keras_enas.search_spaces import builtin  # noqa: F401  (registers ptb_rnn, macro, micro)
from keras_enas.search_spaces.macro import MacroSpace
from keras_enas.search_spaces.micro import MicroSpace
from keras_enas.search_spaces.registry import (
    SpaceSpec,
    get_spec,
    register_space,
    space_names,
)
from keras_enas.search_spaces.rnn import RNNCellSpace
from keras_enas.search_spaces.space import SearchSpace

__all__ = [
    "MacroSpace",
    "MicroSpace",
    "RNNCellSpace",
    "SearchSpace",
    "SpaceSpec",
    "get_space",
    "get_spec",
    "register_space",
    "space_names",
]


def get_space(name, **kwargs):
    """Builds a search space by its registry name.

    Args:
        name: a registered name: `"ptb_rnn"`, `"macro"`, `"micro"`, or one added with
            `register_space`.
        **kwargs: constructor arguments of that space, e.g. `num_layers=24`.

    Returns:
        A `SearchSpace`.

    Raises:
        ValueError: if `name` is unknown.

    Example:
    >>> get_space("ptb_rnn", num_nodes=9).arc_length
    16
    """
    if name not in space_names():
        raise ValueError(f"`name` must be one of {sorted(space_names())}. Received: name={name!r}")
    return get_spec(name).space(**kwargs)
