"""CIFAR-10 configuration: the child CNN, the search, and training a found network."""

import dataclasses
from typing import Optional

from keras_enas.config.base import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_FILTERS,
    MAX_SEED,
    MAX_STEPS,
    Validated,
    mixed_precision_field,
)
from keras_enas.config.base import field as _field
from keras_enas.config.distribute import DistributeConfig
from keras_enas.config.search import ControllerConfig, SearchConfig
from keras_enas.search_spaces import limits, registry

__all__ = [
    "CIFAR_SPACES",
    "CIFARChildConfig",
    "CIFARDataConfig",
    "CIFARFinalConfig",
    "CIFARSearchConfig",
    "TrainConfig",
]

# The registered CIFAR-10 spaces (their `SpaceSpec.task` is "cifar").
CIFAR_SPACES = registry.space_names("cifar")


@dataclasses.dataclass(frozen=True)
class CIFARChildConfig(Validated):
    """A CIFAR-10 child CNN and how its weights are trained (defaults: macro search, §4.1)."""

    num_layers: int = _field(
        12,
        "Macro: layers L of the searched network (paper: 12). "
        "Training a found arc reads L from the arc.",
        lower=limits.MACRO_NUM_LAYERS[0],
        upper=limits.MACRO_NUM_LAYERS[1],
    )
    filters: int = _field(
        36,
        "Width F in channels (macro search: 36, constant; macro final: "
        "96, doubled at each reduction).",
        lower=2,
        upper=MAX_FILTERS,
    )
    dropout: float = _field(
        0.1, "Dropout rate before the classifier (1 - keep_prob).", lower=0.0, upper=0.99
    )
    batch_size: int = _field(
        128,
        "Global training minibatch size in images (split across replicas); the reward "
        "minibatch has the same size.",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )
    eval_batch_size: int = _field(
        100,
        "Global minibatch size in images for validation and test.",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )
    lr_max: float = _field(
        0.05,
        "Cosine schedule: learning rate at the start of each cycle (on the global-batch mean gradient).",
        lower=0.0,
    )
    lr_min: float = _field(
        5e-4, "Cosine schedule: learning rate at the end of each cycle.", lower=0.0
    )
    lr_t0: int = _field(
        10, "Cosine schedule: length in epochs of the first cycle.", lower=1, upper=MAX_EPOCHS
    )
    lr_t_mul: int = _field(
        2,
        "Cosine schedule: each cycle is this many times longer than the previous one.",
        lower=1,
        upper=10,
    )
    momentum: float = _field(0.9, "Nesterov momentum of the SGD optimizer.", lower=0.0, upper=0.999)
    l2: float = _field(
        2.5e-4, "L2 weight λ: the loss gains λ·Σw² over the weights in use.", lower=0.0
    )
    grad_clip: float = _field(5.0, "Clip the gradient to this global norm (0 disables).", lower=0.0)
    cutout_size: int = _field(
        0,
        "Side in pixels of the cutout square in training "
        "augmentation (0 disables; DeVries & Taylor use 16).",
        lower=0,
        upper=32,
    )
    aux_weight: float = _field(
        0.4, "Weight of the auxiliary head's loss, for CNNs that have one (micro).", lower=0.0
    )
    op_selection: str = _field(
        "auto",
        "Micro search: how a shared cell runs its sampled ops. "
        "'switch_case' runs only the sampled op (measured 2x faster "
        "per step on 2 CPU cores with uniform arcs, but a slower "
        "first trace); 'compute_all' runs every op with static shapes "
        "and masks (compiles under XLA); 'auto' picks compute_all with "
        "--search_jit_compile, else switch_case.",
        choices=("auto", "switch_case", "compute_all"),
    )
    weight_sharing: str = _field(
        "fine",
        "Micro search: granularity of the shared weights. "
        "'fine' (the original code's): one set per (cell, node, slot "
        "x/y, input node, op), 5.8 M parameters at 6 layers, F = 20. "
        "'coarse' (the paper's per (node, input), as NNI keeps them): "
        "the two slots of a node share their weights per input node, "
        "2.9 M parameters. 'fine' is the default so that searches "
        "reproduce the original; README, CIFAR benchmarks, gives both "
        "granularities' memory and speed. The macro search has only "
        "'fine' (one set per (layer, op), the paper's: each macro op "
        "reads the previous layer alone, so there is no input to share by).",
        choices=("fine", "coarse"),
    )
    recompute_cells: bool = _field(
        False,
        "Micro search: recompute each shared cell's activations in "
        "the backward pass instead of keeping them (gradient "
        "checkpointing per cell). The same gradients; at the search's "
        "default size with --child_weight_sharing=coarse, measured on "
        "2 CPU cores: the step's peak RSS 1.38 GB instead of 1.78 GB, "
        "the step 1.36x longer (README, 'Issue #14, fifth pass'). Off "
        "by default: speed first. The macro search does not have it.",
    )
    sep_conv_recompute: str = _field(
        "auto",
        "Micro search: what each shared sep conv's backward pass "
        "recomputes instead of keeping. 'none': all 6 activations kept "
        "(ReLU, depthwise and pointwise outputs of both stacks). "
        "'elementwise': the ReLUs and the first BN are recomputed, 4 "
        "kept. 'depthwise': the depthwise convs too, 2 kept. 'auto' "
        "(default): 'depthwise' with --child_weight_sharing=coarse (the "
        "granularity for memory, as NNI's), 'none' with 'fine' (speed "
        "first). The same gradients; at the search's default size with "
        "coarse sharing, measured on 2 CPU cores: peak RSS 1.68, 1.57, "
        "1.42 GB, shared / fixed step 0.97-1.08, 1.11-1.19, 1.07-1.23 "
        "(README, 'Issue #14, seventh pass'). Ignored with "
        "--child_recompute_cells; the macro search keeps its "
        "activations (it refuses 'elementwise' and 'depthwise').",
        choices=("auto", "none", "elementwise", "depthwise"),
    )

    drop_path_keep_prob: float = _field(
        1.0,
        "Micro final training: keep probability of the "
        "last cell's op outputs at the end of training, "
        "scheduled linearly (paper: 0.6; 1 disables).",
        lower=0.01,
        upper=1.0,
    )

    def search_sep_conv_recompute(self):
        """`sep_conv_recompute` with 'auto' resolved by `weight_sharing`: 'depthwise'
        for 'coarse', 'none' for 'fine'."""
        if self.sep_conv_recompute != "auto":
            return self.sep_conv_recompute
        return "depthwise" if self.weight_sharing == "coarse" else "none"


@dataclasses.dataclass(frozen=True)
class CIFARDataConfig(Validated):
    """How the CIFAR-10 training images are split for the search."""

    valid_fraction: float = _field(
        0.1,
        "Fraction of the training images, taken from the end, "
        "held out for rewards and validation (paper: 5k of 50k).",
        lower=0.01,
        upper=0.5,
    )


def _macro_controller():
    """The macro search's controller settings (reference §3.2, `cifar10_macro_search.sh`)."""
    return ControllerConfig(
        hidden_size=64,
        temperature=0.0,
        tanh_constant=1.5,
        entropy_weight=1e-4,
        learning_rate=1e-3,
        train_steps=50,
        num_aggregate=20,
        skip_target=0.4,
        skip_weight=0.8,
    )


@dataclasses.dataclass(frozen=True)
class CIFARSearchConfig(Validated):
    """A whole CIFAR-10 search (defaults: the paper's macro search)."""

    search_space: str = _field("macro", "CIFAR-10 search space to search.", choices=CIFAR_SPACES)
    child: CIFARChildConfig = dataclasses.field(default_factory=CIFARChildConfig)
    controller: ControllerConfig = dataclasses.field(default_factory=_macro_controller)
    search: SearchConfig = dataclasses.field(default_factory=lambda: SearchConfig(num_epochs=310))
    data: CIFARDataConfig = dataclasses.field(default_factory=CIFARDataConfig)
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)
    seed: int = _field(
        0, "Seed for weights, dropout, arc sampling and data order.", lower=0, upper=MAX_SEED
    )
    mixed_precision_dtype: str = mixed_precision_field()
    data_dir: str = _field(
        "data/cifar10", "Directory holding cifar-10-batches-py/ (or that directory itself)."
    )
    workdir: Optional[str] = _field(
        None, "Working directory: config, logs, checkpoints, results; an existing one is resumed."
    )

    def to_dict(self):
        """Returns the config as nested plain dicts (JSON-serialisable)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrainConfig(Validated):
    """Training one network from scratch: epochs, evaluation, compilation."""

    num_epochs: int = _field(
        310, "Training epochs (310 ends a cosine cycle).", lower=1, upper=MAX_EPOCHS
    )
    steps_per_epoch: int = _field(
        0, "Minibatches per epoch (0: the whole training split).", lower=0, upper=MAX_STEPS
    )
    test_steps: int = _field(
        0,
        "Test minibatches evaluated each epoch (0: the whole test split).",
        lower=0,
        upper=MAX_STEPS,
    )
    jit_compile: bool = _field(False, "Compile the train step with XLA (measure first on CPU).")
    deterministic: bool = _field(
        False,
        "Turn on TensorFlow op determinism, so that a resumed "
        "run matches an uninterrupted one bit for bit.",
    )
    max_nonfinite_steps: int = _field(
        20,
        "Training steps whose loss or gradient is NaN or inf are skipped and counted; "
        "the run stops with an error once more than this many were skipped (the last "
        "good checkpoint is kept). May change on resume.",
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


def _macro_final_child():
    """`cifar10_macro_final.sh` (reference §4.1): F = 96, batch 100, lr 0.05 → 1e-3."""
    return CIFARChildConfig(filters=96, dropout=0.5, batch_size=100, lr_min=1e-3, l2=2e-4)


@dataclasses.dataclass(frozen=True)
class CIFARFinalConfig(Validated):
    """Training a found CIFAR-10 architecture from scratch (defaults: the macro final)."""

    search_space: str = _field("macro", "Search space of the architecture.", choices=CIFAR_SPACES)
    fixed_arc: Optional[str] = _field(
        None,
        "The architecture as space-separated integers (the original --child_fixed_arc format).",
    )
    arc_file: Optional[str] = _field(
        None,
        "A best_architecture.json written by "
        "search_cifar10; its fixed_arc is trained, and --fixed_arc is "
        "ignored (with a notice).",
    )
    dry_run: bool = _field(False, "Print one JSON line with the parameter count and exit.")
    export_tflite: bool = _field(
        False,
        "Also write export/model.tflite, a TensorFlow Lite model of the final network "
        "(uint8 images of any batch size in, class probabilities out), beside the SavedModel.",
    )
    child: CIFARChildConfig = dataclasses.field(default_factory=_macro_final_child)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)
    seed: int = _field(0, "Seed for weights, dropout and data order.", lower=0, upper=MAX_SEED)
    mixed_precision_dtype: str = mixed_precision_field()
    data_dir: str = _field(
        "data/cifar10", "Directory holding cifar-10-batches-py/ (or that directory itself)."
    )
    workdir: Optional[str] = _field(
        None,
        "Working directory: config, logs, checkpoints, the "
        "exported model; an existing one is resumed.",
    )

    def __post_init__(self):
        super().__post_init__()
        # "" (a cleared flag) counts as unset; arc_file wins over fixed_arc (with a notice,
        # `tasks.cifar.architecture.resolve_architecture`).
        if not self.fixed_arc and not self.arc_file:
            raise ValueError(
                "Exactly one architecture source must be given: fixed_arc "
                "(--fixed_arc) or arc_file (--arc_file; it wins over a fixed_arc "
                f"set in a flagfile). Received: fixed_arc={self.fixed_arc!r}, "
                f"arc_file={self.arc_file!r}"
            )

    def to_dict(self):
        """Returns the config as nested plain dicts (JSON-serialisable)."""
        return dataclasses.asdict(self)
