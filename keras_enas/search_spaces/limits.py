"""The documented bounds of search-space sizes (and of the sizes a run's files hold).

A size read from a flag, an arc's length, a `best_architecture.json` or a `config.json`
goes through `check_size` before anything is built from it, so a typo such as
`num_nodes=1000000000` is a one-line error instead of gigabytes of schema and weights.
The configs (`keras_enas/config/`) use the same constants as their fields' bounds.
"""

import numbers

__all__ = [
    "check_size",
    "IMAGE_CHANNELS",
    "IMAGE_SIDE",
    "MACRO_NUM_LAYERS",
    "MICRO_NUM_NODES",
    "RNN_NUM_NODES",
    "USER_NUM_CANDIDATES",
    "USER_NUM_CHOICES",
    "VOCAB_SIZE",
]

# ptb_rnn: nodes N of the recurrent cell, node 0 included (paper: 12; enas_lm: 10).
RNN_NUM_NODES = (2, 32)
# macro: layers L of the whole network (paper: 12 in the search, 24 in the final).
MACRO_NUM_LAYERS = (3, 64)
# micro: decided nodes per cell (paper: 5).
MICRO_NUM_NODES = (1, 16)
# User spaces: choices per model, candidates per choice.
USER_NUM_CHOICES = (1, 1024)
USER_NUM_CANDIDATES = (1, 1024)
# Sizes a run records in run_info.json (the data's): vocabulary words, image side, channels.
VOCAB_SIZE = (1, 1_000_000)
IMAGE_SIDE = (1, 1024)
IMAGE_CHANNELS = (1, 4)


def check_size(name, value, bounds):
    """Returns `value` as an int if it is an integer within `bounds` (inclusive).

    Args:
        name: the size's name in the message, e.g. `"num_nodes"`.
        value: the size (from a flag, a file or an arc's length).
        bounds: `(lower, upper)`.

    Raises:
        TypeError: if `value` is not an integer (bools are refused).
        ValueError: if it is outside `bounds`, naming the value and the allowed range.

    Example:
    >>> check_size("num_nodes", 12, RNN_NUM_NODES)
    12
    """
    lower, upper = bounds
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
    if value < lower:
        raise ValueError(f"`{name}` must be >= {lower}. Received: {name}={value}")
    if value > upper:
        raise ValueError(
            f"`{name}` must be <= {upper} (allowed range [{lower}, {upper}]). "
            f"Received: {name}={value}"
        )
    return int(value)
