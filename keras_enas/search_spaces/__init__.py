"""Search spaces as data: decision schemas, arc codecs and decoded architectures.

Pure Python + numpy; nothing here imports TensorFlow.
"""

from keras_enas.search_spaces.macro import MacroSpace
from keras_enas.search_spaces.micro import MicroSpace
from keras_enas.search_spaces.rnn import RNNCellSpace
from keras_enas.search_spaces.space import SearchSpace

SPACES = {"ptb_rnn": RNNCellSpace, "macro": MacroSpace, "micro": MicroSpace}


def get_space(name, **kwargs):
    """Builds a search space by its registry name.

    Args:
        name: `"ptb_rnn"`, `"macro"` or `"micro"`.
        **kwargs: constructor arguments of that space, e.g. `num_layers=24`.

    Returns:
        A `SearchSpace`.

    Raises:
        ValueError: if `name` is unknown.

    Example:
    >>> get_space("ptb_rnn", num_nodes=9).arc_length
    16
    """
    if name not in SPACES:
        raise ValueError(f"`name` must be one of {sorted(SPACES)}. Received: name={name!r}")
    return SPACES[name](**kwargs)
