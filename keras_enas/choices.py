"""`OpChoice` / `InputChoice`: the Keras layers a user declares the decisions of a model with.

Each choice layer owns a non-trainable int32 variable `selection` holding its current
decision. `keras_enas.ENAS` assigns it from the sampled arc tensor inside the compiled
child step, before the forward pass, so one trace serves every architecture (the arc is
never a call argument, so the user's ordinary functional or subclassed model needs no
change). Outside a search the layers run their `selection` (initially candidate 0 /
input 0 / every skip off).
"""

from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

__all__ = ["CHOICE_LAYERS", "InputChoice", "OP_SELECTIONS", "OpChoice", "REDUCTIONS"]

REDUCTIONS = ("sum", "mean", "concat")
OP_SELECTIONS = ("switch_case", "compute_all")


def _check_name(name, cls):
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"`name` must be a non-empty string: it names the decision in the "
            f"architecture. Received: {cls}(name={name!r})"
        )


def _as_layer(candidate, index):
    """A candidate layer, or the layer a zero-argument factory returns."""
    if isinstance(candidate, keras.layers.Layer):
        return candidate
    if callable(candidate):
        layer = candidate()
        if isinstance(layer, keras.layers.Layer):
            return layer
    raise TypeError(
        f"Each candidate must be a keras Layer or a callable returning one. "
        f"Received: candidates[{index}]={candidate!r}"
    )


@keras.saving.register_keras_serializable(package="keras_enas")
class OpChoice(keras.layers.Layer):
    """Runs one of several candidate layers, each with its own weights (ENAS §2.1).

    In a search, `selection` is set from the sampled arc and only that candidate runs
    (`tf.switch_case`, `op_selection="switch_case"`), or every candidate runs and a
    one-hot mask keeps the selected one (`"compute_all"`, static shapes for XLA);
    either way unchosen candidates get no gradient. Candidates without weights (pooling,
    identity) are cheap and run outside the `switch_case`, masked (faster on oneDNN CPUs).
    Inside `keras_enas.ENAS`, a choice that the sampled arc cuts off from the model's
    output runs no candidate at all.

    Args:
        candidates: list of ≥ 1 keras Layers (or zero-argument callables returning one),
            all mapping the input to outputs of the same shape.
        name: the decision's name (required; unique within the model).
        op_selection: `"switch_case"` or `"compute_all"`; `ENAS` sets it from its
            `jit_compile` option.

    Call arguments:
        inputs: the tensor every candidate is applied to.
        training: passed on to the candidates.

    Raises:
        ValueError: if `name` is missing, `candidates` is empty, or the candidates'
            output shapes differ.
        TypeError: if a candidate is not a Layer.

    Example:

    >>> block = OpChoice([keras.layers.Conv2D(16, 3, padding="same"),
    ...                   keras.layers.MaxPooling2D(3, 1, padding="same")], name="block1")
    """

    def __init__(
        self,
        candidates: Sequence[keras.layers.Layer | Callable[[], keras.layers.Layer]],
        name: str | None = None,
        op_selection: str = "switch_case",
        **kwargs: Any,
    ) -> None:
        _check_name(name, "OpChoice")
        super().__init__(name=name, **kwargs)
        if isinstance(candidates, keras.layers.Layer) or not candidates:
            raise ValueError(
                f"`candidates` must be a non-empty list of layers. Received: "
                f"candidates={candidates!r} for OpChoice {name!r}"
            )
        if op_selection not in OP_SELECTIONS:
            raise ValueError(
                f"`op_selection` must be one of {OP_SELECTIONS}. "
                f"Received: op_selection={op_selection!r}"
            )
        self.candidates = [_as_layer(c, i) for i, c in enumerate(candidates)]
        self.op_selection = op_selection
        self.selection = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="selection"
        )
        self._candidate_spec = None
        # Set by `keras_enas.ENAS` around a forward pass: a scalar bool tensor, false when
        # the arc cuts this choice off from the model's output (then no candidate runs).
        object.__setattr__(self, "live", None)

    @property
    def num_tokens(self):
        return 1

    @property
    def candidate_names(self):
        return [c.name for c in self.candidates]

    def build(self, input_shape):
        x = keras.KerasTensor(input_shape)
        outputs = [c(x) for c in self.candidates]
        shapes = [tuple(o.shape) for o in outputs]
        self._candidate_spec = (shapes[0], outputs[0].dtype)
        if any(s != shapes[0] for s in shapes):
            raise ValueError(
                f"Every candidate of OpChoice {self.name!r} must give the same "
                f"output shape. Received: {dict(zip(self.candidate_names, shapes))}"
            )
        self.built = True

    def compute_output_spec(self, inputs, training=None):
        return self.candidates[0].compute_output_spec(inputs)

    def call(self, inputs, training=None):
        def run(candidate):
            return candidate(inputs, training=training)

        zeros = self._zeros(inputs)
        dead_branch = zeros is not None and self.live is not None
        if len(self.candidates) == 1 and not dead_branch:
            return run(self.candidates[0])
        index = tf.convert_to_tensor(self.selection)
        if dead_branch:  # a dead choice runs no candidate (and gets no gradient)
            index = tf.where(self.live, index, len(self.candidates))
        if self.op_selection == "compute_all":
            return self._masked_sum(run, index, range(len(self.candidates)))
        # Candidates without weights (pooling, identity) run outside the branches and are
        # masked: inside a `tf.switch_case` branch oneDNN cannot pair max pooling's
        # gradient with its forward pass and falls back to a much slower kernel.
        free = [] if zeros is None else [i for i, c in enumerate(self.candidates) if not c.weights]
        if len(free) == len(self.candidates):
            return self._masked_sum(run, index, free)
        branches = [
            zeros if i in free else (lambda c=c: run(c)) for i, c in enumerate(self.candidates)
        ]
        if dead_branch:
            branches.append(zeros)
        out = tf.switch_case(index, branches)
        return out + self._masked_sum(run, index, free) if free else out

    def _masked_sum(self, run, index, positions):
        """Σ candidate_i(inputs) · [index == i] over `positions` (static shapes, for XLA)."""
        outputs = [run(self.candidates[i]) for i in positions]
        return tf.add_n(
            [o * tf.cast(tf.equal(index, i), o.dtype) for i, o in zip(positions, outputs)]
        )

    def _zeros(self, inputs):
        """A branch giving this choice's output as zeros, if the output's shape is known
        but for the batch dimension; else None."""
        if self._candidate_spec is None:
            return None
        shape, dtype = self._candidate_spec
        if len(shape) < 1 or any(d is None for d in shape[1:]):
            return None
        size = tf.concat([tf.shape(inputs)[:1], tf.constant(shape[1:], tf.int32)], 0)
        return lambda: tf.zeros(size, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            candidates=[keras.saving.serialize_keras_object(c) for c in self.candidates],
            op_selection=self.op_selection,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["candidates"] = [
            keras.saving.deserialize_keras_object(c) for c in config["candidates"]
        ]
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_enas")
class InputChoice(keras.layers.Layer):
    """Picks some of its input tensors and reduces them (ENAS §2.1 inputs, §2.3 skips).

    `num_chosen=1`: one input (one token, the input's index). `num_chosen=k > 1`:
    k tokens, each an input index (repeats allowed; a repeated input counts twice).
    `num_chosen=None`: any subset, one on/off bit per input (the macro skips); with no
    input chosen the output is zeros. The choice masks the stacked inputs, so the
    shapes are static and unchosen inputs get zero gradient.

    Args:
        num_chosen: 1, an int k > 1, or None (any subset).
        reduction: `"sum"`, `"mean"` or `"concat"` (last axis; not with None).
        name: the decision's name (required; unique within the model).

    Call arguments:
        inputs: list of N ≥ 1 tensors of one shape.

    Raises:
        ValueError: on a missing name, a bad `num_chosen` or `reduction`, or inputs
            that are not a list of same-shape tensors.

    Example:

    >>> skip = InputChoice(num_chosen=1, reduction="sum", name="skip")([h0, h1])
    """

    def __init__(
        self,
        num_chosen: int | None = 1,
        reduction: str = "sum",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_name(name, "InputChoice")
        super().__init__(name=name, **kwargs)
        if num_chosen is not None and (
            isinstance(num_chosen, bool) or not isinstance(num_chosen, int) or num_chosen < 1
        ):
            raise ValueError(
                f"`num_chosen` must be an int >= 1 or None. Received: "
                f"num_chosen={num_chosen!r} for InputChoice {name!r}"
            )
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"`reduction` must be one of {REDUCTIONS}. Received: reduction={reduction!r}"
            )
        if reduction == "concat" and num_chosen is None:
            raise ValueError(
                "`reduction='concat'` needs a fixed `num_chosen` (the output "
                "width must not depend on the choice). Received: num_chosen=None"
            )
        self.num_chosen, self.reduction = num_chosen, reduction
        self.num_inputs = None
        self.selection = None
        # "switch_case": one chosen input is passed on by `tf.switch_case`, without
        # stacking the inputs; "compute_all" (static shapes, XLA): a weighted sum.
        self.op_selection = "switch_case"

    @property
    def num_tokens(self):
        return self.num_inputs if self.num_chosen is None else self.num_chosen

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or not input_shape
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(
                f"InputChoice {self.name!r} must be called on a list of tensors. "
                f"Received input shape: {input_shape}"
            )
        shapes = [tuple(s) for s in input_shape]
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(
                f"The inputs of InputChoice {self.name!r} must have one shape. "
                f"Received shapes: {shapes}"
            )
        self.num_inputs = len(shapes)
        self.selection = self.add_weight(
            shape=(self.num_tokens,),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="selection",
        )
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = list(input_shape[0])
        if self.reduction == "concat" and shape[-1] is not None:
            shape[-1] *= self.num_chosen
        return tuple(shape)

    def call(self, inputs):
        if self.num_chosen == 1 and self.op_selection == "switch_case" and len(inputs) > 1:
            index = tf.convert_to_tensor(self.selection)[0]
            return tf.switch_case(index, [lambda x=x: tf.identity(x) for x in inputs])
        stacked = tf.stack(list(inputs))  # (N, B, ...)
        if self.reduction == "concat":
            picked = tf.gather(stacked, tf.convert_to_tensor(self.selection))  # (k, B, ..., C)
            return tf.concat(tf.unstack(picked, num=self.num_chosen), axis=-1)
        if self.num_chosen is None:
            weights = tf.cast(tf.convert_to_tensor(self.selection), stacked.dtype)  # (N,) bits
        else:
            weights = tf.reduce_sum(
                tf.one_hot(
                    tf.convert_to_tensor(self.selection), self.num_inputs, dtype=stacked.dtype
                ),
                axis=0,
            )
        out = tf.tensordot(weights, stacked, axes=1)
        if self.reduction == "mean":
            out = out / tf.maximum(tf.reduce_sum(weights), 1.0)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(num_chosen=self.num_chosen, reduction=self.reduction)
        return config


CHOICE_LAYERS = (OpChoice, InputChoice)
