"""absl flag definitions generated from `config.py`, and configs built from parsed flags.

Only this module and `bin/` touch absl flags. A config field `hidden_size` of the
`child` section becomes the flag `--child_hidden_size`, with the field's help text,
default and bounds; top-level fields (`seed`, `data_dir`, `workdir`) keep their names.
"""

import dataclasses
import os
import typing

from absl import flags

__all__ = ["config_from_flagfile", "config_from_flags", "define_flags"]

_SECTION_PREFIX = {
    "child": "child_",
    "controller": "controller_",
    "search": "search_",
    "data": "data_",
    # `--distribution_strategy` and `--tpu` keep TF Model Garden's names.
    "distribute": "",
}


def _flag_specs(config_cls):
    """Yields (flag_name, section, field, default) for every leaf field of `config_cls`.

    A section's defaults come from its `default_factory` (e.g. the CIFAR controller
    settings), not from the section class's own field defaults.
    """
    for f in dataclasses.fields(config_cls):
        if dataclasses.is_dataclass(f.type):
            section_default = _default(f)
            for sub in dataclasses.fields(f.type):
                yield (
                    _SECTION_PREFIX.get(f.name, f.name + "_") + sub.name,
                    f.name,
                    sub,
                    getattr(section_default, sub.name),
                )
        else:
            yield f.name, None, f, _default(f)


def _field_type(f):
    """The field's Python type, with `Optional[X]` reduced to X."""
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    return args[0] if args else f.type


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


def define_flags(config_cls, flag_values=flags.FLAGS):
    """Defines one absl flag per config field (defaults and bounds from `config.py`).

    Args:
        config_cls: a top-level config dataclass, e.g. `PTBSearchConfig`.
        flag_values: the `FlagValues` to define them in.
    """
    for name, _, f, default in _flag_specs(config_cls):
        meta, kind = f.metadata, _field_type(f)
        help_text = meta.get("help") or f"{name} (see keras_enas/config.py)."
        bounds = dict(lower_bound=meta.get("lower"), upper_bound=meta.get("upper"))
        if meta.get("choices"):
            flags.DEFINE_enum(
                name, default, list(meta["choices"]), help_text, flag_values=flag_values
            )
        elif kind is bool:
            flags.DEFINE_bool(name, default, help_text, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text, flag_values=flag_values, **bounds)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text, flag_values=flag_values, **bounds)
        else:
            flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def config_from_flags(config_cls, flag_values=flags.FLAGS):
    """Builds a validated `config_cls` from parsed flags.

    A config asking for a deterministic run (`--search_deterministic`,
    `--train_deterministic`) also sets `TF_NUM_INTEROP_THREADS=1` for TensorFlow.

    Raises:
        ValueError: naming the offending flag, if a value is out of range.
    """
    sections, top = {}, {}
    for name, section, f, _ in _flag_specs(config_cls):
        value = flag_values[name].value
        (sections.setdefault(section, {}) if section else top)[f.name] = value
    kwargs = dict(top)
    for f in dataclasses.fields(config_cls):
        if f.name in sections:
            try:
                kwargs[f.name] = f.type(**sections[f.name])
            except ValueError as e:
                prefix = _SECTION_PREFIX.get(f.name, f.name + "_")
                raise ValueError(str(e).replace("`", "`--" + prefix, 1)) from None
    try:
        config = config_cls(**kwargs)
    except ValueError as e:
        raise ValueError(str(e).replace("`", "`--", 1)) from None
    if any(getattr(getattr(config, k, None), "deterministic", False) for k in ("search", "train")):
        # Bit-identical runs need one inter-op thread, fixed before TensorFlow starts
        # (see `keras_enas.run.fit.enable_determinism`).
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return config


def config_from_flagfile(config_cls, path, **overrides):
    """Builds a validated `config_cls` from a flagfile alone (its own `FlagValues`), e.g.
    the training budget of another program's flagfile; `overrides` set flags after it
    (e.g. `arc_file=...`).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file sets an unknown flag or a value out of range.
    """
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"Flagfile not found: {path!r}")
    values = flags.FlagValues()
    define_flags(config_cls, flag_values=values)
    try:
        values(["config_from_flagfile", f"--flagfile={path}"])
        for name, value in overrides.items():
            values[name].value = value
    except flags.Error as e:
        raise ValueError(f"{path}: {e}") from None
    return config_from_flags(config_cls, flag_values=values)
