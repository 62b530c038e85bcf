"""`build_controller`: the controller θ and its REINFORCE trainer, for any task's space."""

from keras_enas import controller as controller_lib
from keras_enas import reinforce
from keras_enas.search_spaces import base

__all__ = ["build_controller"]


def build_controller(space, controller_config, seed):
    """Builds the `Controller` that walks `space`'s decisions, wrapped in its trainer.

    The skip settings (`skip_target`, `skip_weight`, ENAS §3.3) apply only to spaces
    with skip decisions (macro); other spaces keep the trainer's default (no penalty).

    Args:
        space: a `SearchSpace` (its `steps`, `initial_anchors`, `sample_order`).
        controller_config: a `config.ControllerConfig`.
        seed: seed of the controller's weights and samples.

    Returns:
        A `reinforce.ControllerTrainer`; the policy is its `controller`.

    Example:
    >>> trainer = build_controller(space, config.controller, seed=2)  # doctest: +SKIP
    >>> arc, log_prob, entropy = trainer.controller.sample()  # doctest: +SKIP
    """
    k = controller_config
    skips = {}
    if any(isinstance(step, base.SkipChoice) for step in space.steps):
        skips = {"skip_target": k.skip_target}
    policy = controller_lib.Controller(
        space.steps,
        initial_anchors=space.initial_anchors,
        sample_order=space.sample_order,
        hidden_size=k.hidden_size,
        temperature=k.temperature or None,
        tanh_constant=k.tanh_constant or None,
        init_range=k.init_range,
        seed=seed,
        dtype="float32",  # the controller stays float32 under mixed precision
        **skips,
    )
    return reinforce.ControllerTrainer(
        policy,
        learning_rate=k.learning_rate,
        beta_1=k.adam_beta1,
        epsilon=k.adam_epsilon,
        baseline_decay=k.baseline_decay,
        entropy_weight=k.entropy_weight,
        skip_weight=k.skip_weight if skips else 0.0,
        num_aggregate=k.num_aggregate,
    )
