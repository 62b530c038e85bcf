"""The search-space registry: ONE `SpaceSpec` per space, read by every consumer.

`show_arc`, `draw_arc`, `infer_space`, the configs, the CIFAR model builders, the
drawings next to results and `load_search` all look a space up here. The registry
lives in `search_spaces/` (pure Python) so that TF-free tools (`show_arc`) can read
it; what needs TensorFlow or matplotlib (model builders, drawers, loaders) is named
by an import string `"module:attribute"` and imported only when used.
"""

import dataclasses
import importlib
from collections.abc import Callable

__all__ = ["get_spec", "load_object", "register_space", "space_names", "SpaceSpec"]

_SPECS = {}


@dataclasses.dataclass(frozen=True)
class SpaceSpec:
    """Everything keras_enas knows about one search space.

    Args:
        name: the registry name (`space.name`, `--search_space`).
        space: the `SearchSpace` class (or a callable `**space_config → space`).
        infer: `(num_tokens, **size_options) → space kwargs`: the space's size from an
            arc's length (raise ValueError if no size fits). None: the space has no
            size options (`space()` as is).
        size_options: the keyword arguments `infer` accepts (e.g. `("num_layers",)`).
        task: which programs take the space: `"ptb"`, `"cifar"` or None (user spaces).
        from_config: `child config → space kwargs` (the search's space from its config).
        shared: import string of the shared-weight model builder `(space, **options)`.
        fixed: import string of the fixed model builder `(space, arc, **options)`.
        options: import string of `(child config, final, jit_compile) → builder kwargs`.
        final_callbacks: import string of `(model, child config) → [callbacks]` of a final
            training.
        drawer: import string of `(architecture, title) → matplotlib Figure`.
        drawing: file name of the drawing written next to results and exports.
        loader: import string of `(workdir, config dict, run info, **kwargs) → search`
            (`keras_enas.load_search`).

    Example:
    >>> register_space(SpaceSpec("user", space=UserSpace, drawer="my.module:figure",
    ...                          loader="my.module:load"))  # doctest: +SKIP
    """

    name: str
    space: Callable
    infer: Callable | None = None
    size_options: tuple = ()
    task: str | None = None
    from_config: Callable | None = None
    shared: str | None = None
    fixed: str | None = None
    options: str | None = None
    final_callbacks: str | None = None
    drawer: str = "keras_enas.draw:figure"
    drawing: str = "architecture.png"
    loader: str | None = None

    def resolve(self, field_name):
        """The object a field's import string names (None when the field is unset).

        Raises:
            ImportError, AttributeError: if the import string is wrong.
        """
        value = getattr(self, field_name)
        if value is None or not isinstance(value, str):
            return value
        return load_object(value)


def load_object(import_string):
    """Imports `"package.module:attribute"` and returns the attribute.

    Raises:
        ValueError: if `import_string` has no `:`.
    """
    module, sep, attribute = import_string.partition(":")
    if not sep:
        raise ValueError(
            f"An import string must read 'module:attribute'. Received: {import_string!r}"
        )
    return getattr(importlib.import_module(module), attribute)


def register_space(spec: SpaceSpec, overwrite: bool = False) -> SpaceSpec:
    """Registers a search space: one call makes it known to every consumer.

    Args:
        spec: a `SpaceSpec`.
        overwrite: replace a space registered under the same name.

    Returns:
        `spec`.

    Raises:
        TypeError: if `spec` is not a `SpaceSpec`.
        ValueError: if `spec.name` is taken and `overwrite` is False.

    Example:
    >>> register_space(SpaceSpec("user", space=UserSpace))  # doctest: +SKIP
    """
    if not isinstance(spec, SpaceSpec):
        raise TypeError(f"`spec` must be a SpaceSpec. Received: spec={spec!r}")
    if spec.name in _SPECS and not overwrite:
        raise ValueError(
            f"A search space named {spec.name!r} is already registered; pass "
            "overwrite=True to replace it."
        )
    _SPECS[spec.name] = spec
    return spec


def get_spec(name):
    """The `SpaceSpec` registered as `name`.

    Raises:
        ValueError: if no space is registered as `name`.
    """
    if name not in _SPECS:
        raise ValueError(
            f"`search_space` must be one of {sorted(_SPECS)}. Received: search_space={name!r}"
        )
    return _SPECS[name]


def space_names(task=None):
    """Registered space names (of one `task` if given), in registration order."""
    return tuple(n for n, s in _SPECS.items() if task is None or s.task == task)
