"""Config building blocks: fields that carry their flag help and bounds, and validation."""

import dataclasses


def field(default, help, choices=None, lower=None, upper=None):
    """A dataclass field whose metadata holds its flag help and bounds."""
    return dataclasses.field(default=default, metadata=dict(
        help=help, choices=choices, lower=lower, upper=upper))


class Validated:
    """Mixin: `__post_init__` checks every field against its metadata's bounds and choices."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            check(f, getattr(self, f.name))


def check(f, value):
    """Raises a ValueError if `value` is outside the bounds or choices of field `f`."""
    meta = f.metadata
    if value is None or not meta:
        return
    if meta.get("choices") and value not in meta["choices"]:
        raise ValueError(f"`{f.name}` must be one of {list(meta['choices'])}. "
                         f"Received: {f.name}={value!r}")
    if meta.get("lower") is not None and value < meta["lower"]:
        raise ValueError(f"`{f.name}` must be >= {meta['lower']}. "
                         f"Received: {f.name}={value!r}")
    if meta.get("upper") is not None and value > meta["upper"]:
        raise ValueError(f"`{f.name}` must be <= {meta['upper']}. "
                         f"Received: {f.name}={value!r}")
