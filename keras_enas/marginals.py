"""What the controller learned: per-decision marginal probabilities of its policy."""

import dataclasses

import numpy as np

from keras_enas.search_spaces import base
from keras_enas.search_spaces import space as space_lib

__all__ = ["controller_marginals", "heatmap_groups", "Marginals", "token_names"]


@dataclasses.dataclass(frozen=True)
class Marginals:
    """Per-token marginal probabilities of a controller, in the space's stored arc order.

    `probs[i][k]` estimates P(arc[i] = k) under the policy: the mean, over `num_samples`
    sampled arcs, of the exact conditional π(arc[i] = k | arc[:i]) the controller computed
    along each arc (a Rao-Blackwellised estimate: unbiased, and less noisy than counting
    tokens). The first sampled token's marginal is exact. For a skip bit, `[P(off), P(on)]`.

    Attributes:
        names: readable name of each token (`SearchSpace.token_names`).
        probs: tuple of float arrays, one per token, each of length `num_choices[i]`.
        num_samples: arcs the estimate averages over.
    """

    names: tuple[str, ...]
    probs: tuple[np.ndarray, ...]
    num_samples: int

    def to_dict(self, decimals=4):
        """A compact JSON-ready dict: `{"num_samples": N, "probs": [[p, ...], ...]}`."""
        return {
            "num_samples": self.num_samples,
            "probs": [np.round(p, decimals).tolist() for p in self.probs],
        }

    def target_probability(self, arc):
        """Mean over tokens of the marginal probability of `arc`'s token (e.g. a target)."""
        return float(np.mean([p[int(t)] for p, t in zip(self.probs, arc)]))

    def entropy(self):
        """Sum over tokens of the marginals' entropies, in nats (≥ the policy's own)."""
        return float(sum(-np.sum(p * np.log(np.maximum(p, 1e-12))) for p in self.probs))


def controller_marginals(search_or_controller, num_samples=256):
    """Estimates the per-decision marginals of a controller (see `Marginals`).

    Sampling does not advance the controller's sampler: its state is restored after.

    Args:
        search_or_controller: an `ENASSearch` (its `controller`) or a `Controller`.
        num_samples: arcs to sample in one batch.

    Returns:
        A `Marginals`.

    Raises:
        ValueError: if `num_samples` is not an int >= 1.
        TypeError: if the argument has no controller.

    Example:

    >>> marginals = keras_enas.controller_marginals(search, num_samples=256)
    >>> marginals.probs[0]   # e.g. array([0.25, 0.25, 0.25, 0.25]) before training
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"`num_samples` must be an int >= 1. Received: num_samples={num_samples}")
    controller = getattr(search_or_controller, "controller", search_or_controller)
    if not hasattr(controller, "decision_probs"):
        raise TypeError(
            "Expected an `ENASSearch` or a `Controller`. Received: "
            f"{type(search_or_controller).__name__}"
        )
    state = controller.sampler_state.numpy()
    try:
        _, probs = controller.decision_probs(num_samples)
    finally:
        controller.sampler_state.assign(state)
    return Marginals(
        names=token_names(controller),
        probs=tuple(np.asarray(p, np.float64).mean(axis=0) for p in probs),
        num_samples=num_samples,
    )


def token_names(controller):
    """Readable names of a controller's arc tokens, in stored arc order."""
    order = controller._order[0] if controller._order is not None else None
    return space_lib.SearchSpace(
        controller.steps, controller.initial_anchors, sample_order=order
    ).token_names


def heatmap_groups(steps, marginals, sample_order=None):
    """Groups a space's decisions into heat-map matrices, one per kind of decision.

    Op choices are grouped by vocabulary (`"ops <vocab>"`), input choices together
    (`"inputs"`), skip choices together (`"skips"`, value = P(on) per anchor). Each row
    is one decision; shorter rows are padded with NaN.

    Args:
        steps: the schema steps the controller walks.
        marginals: a `Marginals` (stored order).
        sample_order: the space's `sample_order` (None: identity).

    Returns:
        A dict `group name -> (row names, matrix (rows, max choices))`.
    """
    length = base.arc_length(steps)
    order = np.arange(length) if sample_order is None else np.asarray(sample_order)
    groups, position = {}, 0
    for step in steps:
        if isinstance(step, base.AnchorStep):
            continue
        positions = order[position : position + step.num_tokens]
        position += step.num_tokens
        if isinstance(step, base.SkipChoice):
            key, row = "skips", [marginals.probs[i][1] for i in positions]
        else:
            key = f"ops {step.vocab}" if isinstance(step, base.OpChoice) else "inputs"
            row = list(marginals.probs[positions[0]])
        groups.setdefault(key, ([], []))
        groups[key][0].append(step.name)
        groups[key][1].append(row)
    out = {}
    for key, (names, rows) in groups.items():
        matrix = np.full((len(rows), max(len(r) for r in rows)), np.nan)
        for i, row in enumerate(rows):
            matrix[i, : len(row)] = row
        out[key] = (names, matrix)
    return out
