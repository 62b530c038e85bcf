"""The decision schema: what the controller samples, described as plain data.

A search space is a sequence of *steps*. The controller (one LSTM policy for every
space) walks them in order, running one LSTM step per entry. Sampling steps add
tokens to the flat integer `arc`; `AnchorStep` adds none. Anchors are the controller
states that stand for earlier nodes: input and skip choices attend over them
(ENAS §2.1, §2.3, §2.4).
"""

import dataclasses
from typing import Optional, Tuple

__all__ = [
    "AnchorStep",
    "arc_length",
    "InputChoice",
    "OpChoice",
    "SAMPLING_STEPS",
    "SkipChoice",
    "validate_steps",
]


@dataclasses.dataclass(frozen=True)
class OpChoice:
    """Pick one of `num_ops` operations from a named vocabulary.

    The choice is fed back to the controller as the vocabulary's embedding.

    Attributes:
        name: readable name of the decision, e.g. `"node3_activation"`.
        vocab: name of the op vocabulary; choices with the same vocab share the
            controller's embedding and softmax weights.
        num_ops: number of candidate ops (tokens are `0 .. num_ops - 1`).
        tanh_constant_scale: the tanh constant is multiplied by this for this
            choice (micro: 1 / op_tanh_reduce).
        bias_init: initial value of a learnable logit bias (micro: [10, 10, 0, 0, 0]);
            None means no learnable bias.
        fixed_bias: constant added to the logits after the tanh (micro normal cell).
    """

    name: str
    vocab: str
    num_ops: int
    tanh_constant_scale: float = 1.0
    bias_init: Optional[Tuple[float, ...]] = None
    fixed_bias: Optional[Tuple[float, ...]] = None

    @property
    def num_tokens(self):
        return 1


@dataclasses.dataclass(frozen=True)
class InputChoice:
    """Pick one of the first `num_anchors` anchors (earlier nodes) by attention.

    Attributes:
        name: readable name, e.g. `"node3_input"`.
        num_anchors: candidates are anchors `0 .. num_anchors - 1`.
        register_anchor: the LSTM output of this step becomes a new anchor, appended
            AFTER the attention (PTB: node k's anchor comes from its input step).
        recency_bias: subtract `(num_anchors - j)**2 / 6` from candidate j's logit
            (PTB, ENAS §3.3), which favours recent nodes.
        distance_scaled_feedback: feed back `anchor_j / (0.1 + num_anchors - j)`
            instead of `anchor_j` (PTB controllers).
    """

    name: str
    num_anchors: int
    register_anchor: bool = False
    recency_bias: bool = False
    distance_scaled_feedback: bool = False

    @property
    def num_tokens(self):
        return 1


@dataclasses.dataclass(frozen=True)
class SkipChoice:
    """One on/off bit per anchor `0 .. num_anchors - 1` (macro skip connections).

    Each bit is a 2-way softmax over `[-s_j, +s_j]`, `s_j` the attention score.
    The feedback is the mean of the chosen anchors, `Σ b_j a_j / (1 + Σ b_j)`.

    Attributes:
        name: readable name, e.g. `"layer5_skips"`.
        num_anchors: number of bits.
        register_anchor: the LSTM output of this step becomes a new anchor.
    """

    name: str
    num_anchors: int
    register_anchor: bool = True

    @property
    def num_tokens(self):
        return self.num_anchors


@dataclasses.dataclass(frozen=True)
class AnchorStep:
    """Run one LSTM step and register its output as an anchor; samples nothing.

    Attributes:
        name: readable name, e.g. `"node0"`.
        zero_anchor: the anchor's feedback vector is zeros (its attention key still
            comes from the LSTM output), as for the micro cell's two inputs.
        reset_input: the next step's input is the start embedding `g_emb`.
        reset_anchors: drop every earlier anchor before registering this one, so
            later choices attend only over anchors from here on (micro: the reduce
            cell restarts its anchor list with its own two input anchors).
    """

    name: str
    zero_anchor: bool = False
    reset_input: bool = False
    reset_anchors: bool = False

    @property
    def num_tokens(self):
        return 0


SAMPLING_STEPS = (OpChoice, InputChoice, SkipChoice)


def arc_length(steps):
    """Number of tokens in an arc sampled from `steps`."""
    return sum(step.num_tokens for step in steps)


def validate_steps(steps, initial_anchors=0):
    """Checks that every choice only attends over anchors that exist.

    Args:
        steps: sequence of schema steps.
        initial_anchors: zero-vector anchors present before the first step.

    Raises:
        ValueError: if a choice names more anchors than have been registered.
    """
    anchors = initial_anchors
    for i, step in enumerate(steps):
        if isinstance(step, (InputChoice, SkipChoice)):
            if step.num_anchors < 1 or step.num_anchors > anchors:
                raise ValueError(
                    f"Step {i} ({step.name}) attends over {step.num_anchors} anchors but "
                    f"only {anchors} exist at that point. Expected 1 <= num_anchors <= "
                    f"{anchors}."
                )
        elif isinstance(step, OpChoice):
            if step.num_ops < 1:
                raise ValueError(
                    f"`num_ops` must be >= 1. Received: num_ops={step.num_ops}"
                    f" in step {i} ({step.name})."
                )
        elif not isinstance(step, AnchorStep):
            raise TypeError(f"Unknown schema step at position {i}: {step!r}")
        if isinstance(step, AnchorStep) and step.reset_anchors:
            anchors = 0
        if getattr(step, "register_anchor", False) or isinstance(step, AnchorStep):
            anchors += 1
    return anchors
