"""Config building blocks: fields that carry their flag help and bounds, and validation."""

import dataclasses


def field(default, help, choices=None, lower=None, upper=None):
    """A dataclass field whose metadata holds its flag help and bounds."""
    return dataclasses.field(
        default=default, metadata=dict(help=help, choices=choices, lower=lower, upper=upper)
    )


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
        raise ValueError(
            f"`{f.name}` must be one of {list(meta['choices'])}. Received: {f.name}={value!r}"
        )
    if meta.get("lower") is not None and value < meta["lower"]:
        raise ValueError(f"`{f.name}` must be >= {meta['lower']}. Received: {f.name}={value!r}")
    if meta.get("upper") is not None and value > meta["upper"]:
        raise ValueError(f"`{f.name}` must be <= {meta['upper']}. Received: {f.name}={value!r}")


def from_dict(config_cls, values):
    """Rebuilds a (nested) config dataclass from its `to_dict()` form (e.g. a `config.json`).

    Raises:
        ValueError: if `values` has a key `config_cls` does not know, or a value is out
            of bounds.
    """
    kwargs = {}
    names = {f.name: f for f in dataclasses.fields(config_cls)}
    for key, value in values.items():
        if key not in names:
            raise ValueError(
                f"{config_cls.__name__} has no field `{key}`. Received: {key}={value!r}"
            )
        kind = names[key].type
        kwargs[key] = from_dict(kind, value) if dataclasses.is_dataclass(kind) else value
    return config_cls(**kwargs)
