"""`SearchSpace`: the arc codec every space shares (parse, validate, format, sample)."""

import math
import re

import numpy as np

from keras_enas.search_spaces import base

__all__ = ["SearchSpace"]


class SearchSpace:
    """Base class of a search space: a decision schema plus the codec of its arcs.

    The schema (`steps`) fixes what every token of an arc may be, so parsing,
    validating, formatting and uniform sampling are the same for every space.
    Subclasses pass their steps to `__init__` and implement `decode`, `encode`
    and `get_config`.

    Args:
        steps: sequence of schema steps (`keras_enas.search_spaces.base`), in the
            order the controller walks them.
        initial_anchors: zero-vector anchors present before the first step.
        sample_order: optional permutation of `range(arc_length)`. `sample_order[i]`
            is the arc position of the i-th token the controller samples, so
            `arc[sample_order] == sampled`. Defaults to the identity; only spaces
            whose stored order differs from the sampling order (micro) set it.

    Attributes:
        steps, initial_anchors, sample_order: as above (`sample_order` is np.int32).
        arc_length: number of tokens in an arc.
        token_names: readable name of each arc position, e.g. `"node 3 input"`.
        num_choices: np.int32 array; arc token i takes values `0 .. num_choices[i] - 1`.

    Raises:
        ValueError: if `steps` attend over missing anchors or `sample_order` is not
            a permutation.
    """

    name = None

    def __init__(self, steps, initial_anchors=0, sample_order=None):
        base.validate_steps(steps, initial_anchors)
        self.steps = tuple(steps)
        self.initial_anchors = initial_anchors
        self.arc_length = base.arc_length(self.steps)
        if sample_order is None:
            sample_order = np.arange(self.arc_length)
        order = np.asarray(sample_order, dtype=np.int32)
        if sorted(order.tolist()) != list(range(self.arc_length)):
            raise ValueError(
                f"`sample_order` must be a permutation of range({self.arc_length})."
                f" Received: sample_order={order.tolist()}"
            )
        self.sample_order = order
        names, choices = _token_specs(self.steps)
        stored_names = [None] * self.arc_length
        self.num_choices = np.zeros(self.arc_length, np.int32)
        for i, position in enumerate(order):
            stored_names[position] = names[i]
            self.num_choices[position] = choices[i]
        self.token_names = tuple(stored_names)

    @property
    def num_architectures(self):
        """How many distinct arcs the space holds: the product of every token's choices.

        E.g. the macro space of L layers and 6 ops: 6^L × 2^(L(L − 1)/2) (ENAS §3.1;
        about 1.6 × 10^29 for L = 12). An exact Python int.
        """
        return math.prod(int(n) for n in self.num_choices)

    @property
    def arc_label(self):
        """How error messages name this space's arcs, e.g. `"Invalid macro arc"`."""
        return self.name or type(self).__name__

    def get_config(self):
        """Returns the constructor arguments as a dict (subclasses override)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def parse(self, fixed_arc):
        """Reads a `--child_fixed_arc` string (or a sequence of ints) into an arc.

        Args:
            fixed_arc: whitespace-separated integers, e.g. `"0 2 1 0"`, or a
                sequence of ints.

        Returns:
            The validated arc, an np.int32 array of length `arc_length`.

        Raises:
            ValueError: if a token is not an integer, the length is wrong, or a
                token is out of range.
            TypeError: if `fixed_arc` is neither a string nor a sequence.
        """
        if not isinstance(fixed_arc, str):
            return self.validate(fixed_arc)
        tokens = []
        for i, token in enumerate(fixed_arc.split()):
            try:
                tokens.append(int(token))
            except ValueError:
                raise ValueError(
                    f"Invalid {self.arc_label} arc: token {i} is {token!r}; expected an integer."
                ) from None
        return self.validate(tokens)

    def validate(self, arc):
        """Checks an arc token by token against the schema.

        Args:
            arc: sequence of ints (list, tuple or 1-D numpy array).

        Returns:
            The arc as an np.int32 array.

        Raises:
            ValueError: naming the first bad token, its decision and allowed range,
                or the expected length.
            TypeError: if `arc` is a string (use `parse`) or not a sequence.
        """
        if isinstance(arc, (str, bytes)):
            raise TypeError(
                "`arc` must be a sequence of integers; use `parse()` for a "
                f"string. Received: arc={arc!r}"
            )
        try:
            tokens = list(arc)
        except TypeError:
            raise TypeError(
                "`arc` must be a sequence of integers. Received: "
                f"arc={arc!r} of type {type(arc).__name__}"
            ) from None
        for i, token in enumerate(tokens):
            if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
                raise ValueError(
                    f"Invalid {self.arc_label} arc: token {i} is {token!r}; expected an integer."
                )
        if len(tokens) != self.arc_length:
            raise ValueError(
                f"Invalid {self.arc_label} arc: expected {self.arc_length} "
                f"tokens for {self!r}; received {len(tokens)}."
            )
        for i, (token, count) in enumerate(zip(tokens, self.num_choices)):
            if not 0 <= token < count:
                raise ValueError(
                    f"Invalid {self.arc_label} arc: token {i} ({self.token_names[i]}) is "
                    f"{token}; expected an integer in [0, {count - 1}]."
                )
        return np.asarray(tokens, dtype=np.int32)

    def format_arc(self, arc):
        """Returns the validated arc as a space-separated `fixed_arc` string."""
        return " ".join(str(token) for token in self.validate(arc))

    def random_arc(self, rng=None):
        """Samples every token uniformly (a uniform arc when tokens are independent).

        Args:
            rng: `np.random.Generator`, an int seed, or None (fresh entropy).

        Returns:
            An np.int32 arc.
        """
        rng = np.random.default_rng(rng)
        return rng.integers(0, self.num_choices).astype(np.int32)

    def decode(self, arc):
        """Returns the printable Architecture of `arc` (implemented by subclasses)."""
        raise NotImplementedError

    def encode(self, architecture):
        """Returns the arc of an Architecture (implemented by subclasses)."""
        raise NotImplementedError


def _readable(name):
    """`"node3_input"` → `"node 3 input"`."""
    return re.sub(r"(?<=[a-z])(?=\d)", " ", name).replace("_", " ")


def _token_specs(steps):
    """Per-token (readable name, number of choices), in sampling order."""
    names, choices = [], []
    for step in steps:
        if isinstance(step, base.OpChoice):
            names.append(_readable(step.name))
            choices.append(step.num_ops)
        elif isinstance(step, base.InputChoice):
            names.append(_readable(step.name))
            choices.append(step.num_anchors)
        elif isinstance(step, base.SkipChoice):
            names.extend(f"{_readable(step.name)} bit {j}" for j in range(step.num_anchors))
            choices.extend([2] * step.num_anchors)
    return names, choices
