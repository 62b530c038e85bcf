"""Configuration of a search of a user's own model (`keras_enas.ENAS`)."""

import dataclasses

from keras_enas.config.base import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_SAMPLES, MAX_SEED, Validated
from keras_enas.config.base import field as _field
from keras_enas.config.search import ControllerConfig

__all__ = ["UserSearchConfig"]


def _user_controller():
    # θ updates per epoch-end phase: fewer than the paper's 2000 per CIFAR epoch, since a
    # user's epochs are usually short; each update still averages `num_aggregate` arcs.
    return ControllerConfig(train_steps=50)


@dataclasses.dataclass(frozen=True)
class UserSearchConfig(Validated):
    """Settings of `keras_enas.ENAS`: the child ω, the rewards, the controller θ."""

    strategy: str = _field(
        "enas",
        "'enas' trains the controller; 'random' samples uniform "
        "arcs with the same budget and no controller training.",
        choices=("enas", "random"),
    )
    learning_rate: float = _field(
        1e-3,
        "Adam learning rate for the shared weights ω (used when no optimizer is given).",
        lower=0.0,
    )
    grad_clip: float = _field(5.0, "Global-norm gradient clipping for ω (0 disables).", lower=0.0)
    reward_batch_size: int = _field(
        128,
        "Validation examples per reward minibatch (one minibatch per sampled arc).",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )
    derive_num_samples: int = _field(
        50, "Arcs sampled and scored by best_architecture().", lower=1, upper=MAX_SAMPLES
    )
    arcs_per_step: str = _field(
        "1",
        "Under a tf.distribute strategy with several replicas: '1' trains one sampled arc "
        "on the whole global batch; 'replicas' a different sampled arc on each replica's "
        "share of it.",
        choices=("1", "replicas"),
    )
    controller_every: int = _field(
        1, "Run a controller phase every this many epochs.", lower=1, upper=MAX_EPOCHS
    )
    log_num_arcs: int = _field(
        10, "Sampled arcs logged with their rewards each epoch.", lower=0, upper=1000
    )
    seed: int = _field(
        0, "Seed of the controller, uniform arcs and reward minibatches.", lower=0, upper=MAX_SEED
    )
    derive_top_k: int = _field(
        5,
        "Best distinct arcs listed, with their rewards, under 'top_k' in best_architecture.json.",
        lower=1,
        upper=1000,
    )
    log_marginal_samples: int = _field(
        256,
        "Arcs sampled after each controller phase to estimate the controller's "
        "per-decision probabilities, written to log.jsonl and TensorBoard with a workdir "
        "(0 disables).",
        lower=0,
        upper=MAX_SAMPLES,
    )
    jit_compile: bool = _field(
        False,
        "Compile the steps with XLA (choices then compute every "
        "candidate and mask; measure first on CPU).",
    )
    deterministic: bool = _field(
        False,
        "Turn on TensorFlow op determinism, so that a resumed "
        "run matches an uninterrupted one bit for bit.",
    )
    controller: ControllerConfig = dataclasses.field(default_factory=_user_controller)

    def to_dict(self):
        """Returns the config as nested plain dicts (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        """Inverse of `to_dict`."""
        config = dict(config)
        config["controller"] = ControllerConfig(**config.get("controller", {}))
        return cls(**config)
