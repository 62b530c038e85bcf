"""Checks and tables the controller derives from a space's decision schema."""

import numpy as np

from keras_enas.search_spaces import base

__all__ = ["check_arguments", "sample_order", "vocabularies"]


def vocabularies(steps):
    """Maps each op vocabulary to `(num_ops, bias_init)`, checking the choices agree."""
    vocabs = {}
    for step in steps:
        if not isinstance(step, base.OpChoice):
            continue
        num_ops, bias = vocabs.get(step.vocab, (step.num_ops, None))
        if step.num_ops != num_ops:
            raise ValueError(
                f"Op choices of vocab '{step.vocab}' must agree on `num_ops`. "
                f"Received: {num_ops} and {step.num_ops} ({step.name})."
            )
        for field in ("bias_init", "fixed_bias"):
            value = getattr(step, field)
            if value is not None and len(value) != num_ops:
                raise ValueError(
                    f"`{field}` must have num_ops={num_ops} entries. "
                    f"Received: {field}={value} ({step.name})."
                )
        if step.bias_init is not None:
            if bias is not None and tuple(bias) != tuple(step.bias_init):
                raise ValueError(
                    f"Op choices of vocab '{step.vocab}' must share one "
                    f"`bias_init`. Received: {bias} and {step.bias_init}."
                )
            bias = step.bias_init
        vocabs[step.vocab] = (num_ops, bias)
    return vocabs


def check_arguments(
    steps, initial_anchors, hidden_size, temperature, tanh_constant, init_range, skip_target
):
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"`hidden_size` must be an int >= 1. Received: hidden_size={hidden_size}")
    if not isinstance(initial_anchors, int) or initial_anchors < 0:
        raise ValueError(
            f"`initial_anchors` must be an int >= 0. Received: initial_anchors={initial_anchors}"
        )
    for arg, value in (("temperature", temperature), ("tanh_constant", tanh_constant)):
        if value is not None and not value > 0:
            raise ValueError(f"`{arg}` must be None or > 0. Received: {arg}={value}")
    if not init_range >= 0:
        raise ValueError(f"`init_range` must be >= 0. Received: init_range={init_range}")
    if not 0 < skip_target < 1:
        raise ValueError(f"`skip_target` must be in (0, 1). Received: skip_target={skip_target}")
    base.validate_steps(steps, initial_anchors)
    if base.arc_length(steps) < 1:
        raise ValueError(
            "`steps` must contain at least one sampling step (OpChoice, "
            f"InputChoice or SkipChoice). Received: steps={steps}"
        )


def sample_order(sample_order, length):
    """`(order, inverse)` index arrays, or None for the identity.

    `sample_order[i]` is the arc position of the i-th sampled token (micro samples
    x_id, y_id, x_op, y_op but stores x_id, x_op, y_id, y_op).
    """
    if sample_order is None:
        return None
    order = np.asarray(sample_order, np.int32)
    if sorted(order.tolist()) != list(range(length)):
        raise ValueError(
            f"`sample_order` must be a permutation of range({length}). "
            f"Received: sample_order={order.tolist()}"
        )
    if np.array_equal(order, np.arange(length)):
        return None
    return order, np.argsort(order).astype(np.int32)
