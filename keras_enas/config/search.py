"""Configuration shared by every search: the controller θ and the search loop."""

import dataclasses

from keras_enas.config.base import MAX_EPOCHS, MAX_HIDDEN_SIZE, MAX_SAMPLES, MAX_STEPS, Validated
from keras_enas.config.base import field as _field

__all__ = ["ControllerConfig", "SearchConfig"]


@dataclasses.dataclass(frozen=True)
class ControllerConfig(Validated):
    """The LSTM policy θ and its REINFORCE training."""

    hidden_size: int = _field(
        100, "Controller LSTM units (paper, PTB: 100).", lower=1, upper=MAX_HIDDEN_SIZE
    )
    temperature: float = _field(
        5.0, "Logits are divided by this before the tanh (0 disables).", lower=0.0
    )
    tanh_constant: float = _field(2.5, "Logits become C*tanh(logits) (0 disables).", lower=0.0)
    entropy_weight: float = _field(
        1e-4, "Weight of the entropy bonus added to the reward.", lower=0.0
    )
    learning_rate: float = _field(3.5e-4, "Adam learning rate for θ.", lower=0.0)
    adam_beta1: float = _field(0.0, "Adam beta_1 (the original code: 0.0).", lower=0.0, upper=0.999)
    adam_epsilon: float = _field(
        1e-3,
        "Adam epsilon (the original code: 1e-3). REINFORCE "
        "gradients are often far below 1e-3, which then freezes the "
        "controller at small budgets; 1e-8 lets it move (the CPU "
        "flagfiles use it).",
        lower=0.0,
    )
    baseline_decay: float = _field(
        0.99, "Decay of the moving-average reward baseline.", lower=0.0, upper=1.0
    )
    init_range: float = _field(0.1, "Controller weights are initialised U[-r, r].", lower=0.0)
    reward_constant: float = _field(80.0, "PTB reward is c / validation perplexity.", lower=0.0)
    train_steps: int = _field(
        200, "Controller (Adam) updates per controller phase.", lower=0, upper=MAX_STEPS
    )
    num_aggregate: int = _field(
        10, "Sampled arcs whose gradients are averaged per update.", lower=1, upper=1000
    )
    skip_target: float = _field(
        0.4, "Macro: target skip-connection probability ρ.", lower=0.0, upper=1.0
    )
    skip_weight: float = _field(0.8, "Macro: weight of the KL skip penalty in the loss.", lower=0.0)


@dataclasses.dataclass(frozen=True)
class SearchConfig(Validated):
    """The ENAS loop: epochs, controller phases, deriving the final architecture."""

    strategy: str = _field(
        "enas",
        "'enas' trains the controller; 'random' samples uniform "
        "arcs with the same budget and no controller training.",
        choices=("enas", "random"),
    )
    num_epochs: int = _field(
        150, "Search epochs (one pass of ω training each).", lower=1, upper=MAX_EPOCHS
    )
    steps_per_epoch: int = _field(
        0, "Shared-weight steps per epoch (0: the whole training split).", lower=0, upper=MAX_STEPS
    )
    controller_every: int = _field(
        1, "Run a controller phase every this many epochs.", lower=1, upper=MAX_EPOCHS
    )
    derive_num_samples: int = _field(
        100, "Arcs sampled and scored to derive the final one.", lower=1, upper=MAX_SAMPLES
    )
    derive_scoring: str = _field(
        "minibatch",
        "Score derived arcs on one validation minibatch (paper) or on the whole validation split.",
        choices=("minibatch", "full"),
    )
    derive_num_batches: int = _field(
        1,
        "With derive_scoring='minibatch': validation "
        "minibatches (the same for every arc) each sampled arc "
        "is scored on; the paper uses 1, more is less noisy.",
        lower=1,
        upper=MAX_SAMPLES,
    )
    derive_top_k: int = _field(
        5,
        "Best distinct arcs listed, with their scores, under 'top_k' in best_architecture.json.",
        lower=1,
        upper=1000,
    )
    log_num_arcs: int = _field(
        10, "Sampled arcs printed with their rewards each epoch.", lower=0, upper=1000
    )
    derive_train_steps: int = _field(
        0,
        "If > 0: each of the top derive_top_k arcs is then trained from scratch for this "
        "many minibatches (fresh weights of the search's child model, the search's "
        "optimizer settings) and scored again on the same validation minibatches; the "
        "best after training becomes the result (best_architecture.json: picked_by, "
        "from_scratch_* scores in top_k). 0: the best shared-weight score is the result.",
        lower=0,
        upper=MAX_STEPS,
    )
    log_marginal_samples: int = _field(
        256,
        "Arcs sampled after each controller phase to estimate the controller's "
        "per-decision probabilities, written to log.jsonl and TensorBoard (0 disables).",
        lower=0,
        upper=MAX_SAMPLES,
    )
    valid_steps: int = _field(
        0,
        "Validation minibatches for the epoch's search-phase perplexity (0: the whole split).",
        lower=0,
        upper=MAX_STEPS,
    )
    log_every_secs: float = _field(
        30.0,
        "Seconds between progress lines (steps done, "
        "ms/step, ETA of the epoch and the run) within an epoch "
        "(0: only the per-epoch lines).",
        lower=0.0,
    )
    arcs_per_step: str = _field(
        "1",
        "With more than one replica: '1' trains one sampled arc per shared-weight step on "
        "the whole global batch (as on one device); 'replicas' samples a different arc "
        "for each replica's share of the batch, so a step trains as many arcs as there "
        "are replicas (the averaged gradient is an unbiased estimate of the "
        "shared-weight objective).",
        choices=("1", "replicas"),
    )
    jit_compile: bool = _field(False, "Compile the steps with XLA (measure first on CPU).")
    deterministic: bool = _field(
        False,
        "Turn on TensorFlow op determinism, so that a resumed "
        "run matches an uninterrupted one bit for bit.",
    )
    max_nonfinite_steps: int = _field(
        20,
        "Shared-weight steps whose loss or gradient is NaN or inf are skipped and "
        "counted; the search stops with an error once more than this many were "
        "skipped (the last good checkpoint is kept). May change on resume.",
        lower=0,
    )
