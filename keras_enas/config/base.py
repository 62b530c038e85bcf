"""Config building blocks: fields that carry their flag help and bounds, and validation."""

import dataclasses
import math
import numbers
import typing

__all__ = [
    "check",
    "field",
    "from_dict",
    "MAX_BATCH_SIZE",
    "MAX_BPTT",
    "MAX_EPOCHS",
    "MAX_FILTERS",
    "MAX_HIDDEN_SIZE",
    "MAX_SAMPLES",
    "MAX_SEED",
    "MAX_STEPS",
    "MIXED_PRECISION_DTYPES",
    "mixed_precision_field",
    "Validated",
]

# Upper bounds of the size fields (every size has one, so that a typo is a one-line error,
# not gigabytes of weights or minibatches; README "Failure behaviour" lists them). Search
# space sizes (`num_nodes`, `num_layers`) use `keras_enas.search_spaces.limits`.
MAX_BATCH_SIZE = 4096  # rows of tokens or images per minibatch
MAX_BPTT = 1000  # tokens per truncated-BPTT segment
MAX_HIDDEN_SIZE = 4096  # LSTM / language-model units
MAX_FILTERS = 1024  # CNN channels F
MAX_EPOCHS = 100_000  # epochs, schedule lengths in epochs
MAX_STEPS = 10_000_000  # minibatches per epoch, controller updates
MAX_SAMPLES = 100_000  # arcs sampled or minibatches scored per derive / log
MAX_SEED = 2**31 - 1


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


def _kind(f):
    """The field's Python type, `Optional[X]` / `X | None` reduced to X."""
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    return args[0] if args else f.type


_KINDS = {
    bool: ((bool,), "a bool"),
    int: ((numbers.Integral,), "an integer"),
    float: ((numbers.Real,), "a number"),
    str: ((str,), "a string"),
}


def check(f, value):
    """Raises a ValueError if `value` has the wrong type or is outside `f`'s bounds or choices.

    Configs are also rebuilt from files (`config.json`), so the type is checked too:
    `num_nodes=1e9` or `"12"` is refused with the field's name, as an out-of-range value is.
    """
    meta = f.metadata
    if value is None or not meta:
        return
    types, what = _KINDS.get(_kind(f), ((object,), ""))
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise ValueError(f"`{f.name}` must be {what}. Received: {f.name}={value!r}")
    if types == (numbers.Real,) and not math.isfinite(value):  # NaN passes every bound check
        raise ValueError(f"`{f.name}` must be a finite number. Received: {f.name}={value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ValueError(
            f"`{f.name}` must be one of {list(meta['choices'])}. Received: {f.name}={value!r}"
        )
    lower, upper = meta.get("lower"), meta.get("upper")
    allowed = f" (allowed range [{lower}, {upper}])" if None not in (lower, upper) else ""
    if lower is not None and value < lower:
        raise ValueError(f"`{f.name}` must be >= {lower}. Received: {f.name}={value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"`{f.name}` must be <= {upper}{allowed}. Received: {f.name}={value!r}")


def from_dict(config_cls, values):
    """Rebuilds a (nested) config dataclass from its `to_dict()` form (e.g. a `config.json`).

    Raises:
        ValueError: if `values` has a key `config_cls` does not know, or a value is out
            of bounds.
    """
    if not isinstance(values, dict):
        raise ValueError(
            f"{config_cls.__name__} must be read from a JSON object (a dict). Received: "
            f"{type(values).__name__} {str(values)[:80]}"
        )
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


# `--mixed_precision_dtype` values (keras_enas.precision): float32 is off.
MIXED_PRECISION_DTYPES = ("float32", "float16", "bfloat16")


def mixed_precision_field():
    """The `mixed_precision_dtype` field every search and final-training config has."""
    return field(
        "float32",
        "Compute dtype of the child network: 'bfloat16' or 'float16' run it under the "
        "Keras mixed-precision policy mixed_<dtype> (variables, the controller, softmax "
        "and losses stay float32; float16 adds dynamic loss scaling); 'float32' is off.",
        choices=MIXED_PRECISION_DTYPES,
    )
