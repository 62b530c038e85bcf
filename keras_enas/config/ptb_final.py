"""Final PTB training of a found cell (or the LSTM baseline): model, optimisation, evaluation.

Defaults are the original `scripts/ptb_final.sh` (enas-reference.md §4.2, column
"ptb_final.sh (orig.)"), with its keep probabilities written as drop probabilities
(e 0.79, x 0.25, h 0.75, o 0.24 → drop_e 0.21, drop_x 0.75, drop_l 0.25, drop_o 0.76).
The enas_lm choices (drop_i, all-nodes output, activation L2, averaged SGD) are options.
"""

import dataclasses
from typing import Optional

from keras_enas.config.base import (
    MAX_BATCH_SIZE,
    MAX_BPTT,
    MAX_EPOCHS,
    MAX_HIDDEN_SIZE,
    MAX_SEED,
    MAX_STEPS,
    Validated,
    mixed_precision_field,
)
from keras_enas.config.base import field as _field
from keras_enas.config.distribute import DistributeConfig
from keras_enas.search_spaces import limits

__all__ = [
    "FinalEvalConfig",
    "FinalModelConfig",
    "FinalTrainConfig",
    "PTB_FINAL_ARC",
    "PTBFinalConfig",
]

# scripts/ptb_final.sh: the cell of the paper's figure, original format, N = 12.
PTB_FINAL_ARC = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"


@dataclasses.dataclass(frozen=True)
class FinalModelConfig(Validated):
    """The language model trained from scratch (flags `--child_*`)."""

    hidden_size: int = _field(
        748, "Hidden size = embedding size (ptb_final.sh: 748).", lower=1, upper=MAX_HIDDEN_SIZE
    )
    output_mode: str = _field(
        "loose_ends",
        "ENAS cell output: average of the loose ends "
        "(paper) or of all nodes but node 0 (enas_lm GPU code).",
        choices=("loose_ends", "all_nodes"),
    )
    drop_e: float = _field(
        0.21, "Embedding dropout: probability of dropping a word type.", lower=0.0, upper=0.99
    )
    drop_i: float = _field(
        0.0,
        "Locked dropout probability on the embedded inputs (enas_lm "
        "only; the original code has none).",
        lower=0.0,
        upper=0.99,
    )
    drop_x: float = _field(
        0.75, "Variational dropout probability on the cell input x_t.", lower=0.0, upper=0.99
    )
    drop_l: float = _field(
        0.25,
        "Variational dropout probability on the state fed to every "
        "node (the LSTM's recurrent dropout).",
        lower=0.0,
        upper=0.99,
    )
    drop_o: float = _field(
        0.76, "Locked dropout probability on the cell outputs.", lower=0.0, upper=0.99
    )
    init_range: float = _field(
        0.04, "Weights are initialised U[-init_range, init_range].", lower=0.0
    )


@dataclasses.dataclass(frozen=True)
class FinalTrainConfig(Validated):
    """How the weights are trained (flags `--train_*`)."""

    num_epochs: int = _field(
        2000, "Training epochs (ptb_final.sh: 2000).", lower=1, upper=MAX_EPOCHS
    )
    steps_per_epoch: int = _field(
        0, "Minibatches per epoch (0: the whole training split).", lower=0, upper=MAX_STEPS
    )
    batch_size: int = _field(
        64,
        "Global training minibatch size (rows of the token stream, split across replicas).",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )
    bptt: int = _field(35, "Truncated back-propagation length in tokens.", lower=1, upper=MAX_BPTT)
    learning_rate: float = _field(
        20.0, "SGD learning rate (on the global-batch mean gradient).", lower=0.0
    )
    lr_decay: float = _field(
        0.9991,
        "Multiply the learning rate by this every epoch from "
        "`lr_decay_start` on (1.0: no decay, enas_lm).",
        lower=0.0,
        upper=1.0,
    )
    lr_decay_start: int = _field(
        14, "First epoch (0-based) at which the decay applies.", lower=0, upper=MAX_EPOCHS
    )
    loss_reduction: str = _field(
        "sum_over_time",
        "How token losses form the objective: "
        "'sum_over_time' sums them over the BPTT steps and averages "
        "over the batch (ptb_final.sh; with clipping 0.25 and lr 20 "
        "it leaves the uniform start quickly), 'mean' averages over "
        "all tokens (enas_lm).",
        choices=("sum_over_time", "mean"),
    )
    grad_clip: float = _field(0.25, "Global-norm gradient clipping (0 disables).", lower=0.0)
    l2: float = _field(
        5e-7, "L2 weight: l2 * (sum of squared weights) is added to the objective.", lower=0.0
    )
    slowness: float = _field(
        1e-3,
        "Slowness (temporal activation) penalty weight on the mean "
        "over batch and time of ||h_t - h_{t-1}||^2 (ptb_final.sh: 1e-3).",
        lower=0.0,
    )
    activation_l2: float = _field(
        0.0,
        "Activation L2 weight on the mean squared dropped cell output (enas_lm fixed, GPU: 0.7).",
        lower=0.0,
    )
    asgd: bool = _field(
        False,
        "Average the weights (non-monotonically triggered averaged SGD, "
        "as enas_lm and AWD-LSTM); evaluation and export use the average.",
    )
    asgd_nonmono: int = _field(
        10,
        "Start averaging once the validation perplexity is worse "
        "than the best of all but the last this many epochs.",
        lower=1,
        upper=MAX_EPOCHS,
    )
    asgd_start_epoch: int = _field(
        0,
        "If > 0, start averaging after this epoch at the latest "
        "(like enas_lm TPU's fixed start); 0: only the "
        "non-monotone trigger.",
        lower=0,
        upper=MAX_EPOCHS,
    )
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
    )
    log_every_secs: float = _field(
        30.0,
        "Seconds between progress lines (steps done, "
        "ms/step, ETA of the epoch and the run) within an epoch "
        "(0: only the per-epoch lines).",
        lower=0.0,
    )


@dataclasses.dataclass(frozen=True)
class FinalEvalConfig(Validated):
    """How final perplexities are measured (flags `--eval_*`)."""

    batch_size: int = _field(
        64,
        "Rows for the final validation and test perplexity; 1 is the "
        "paper's test protocol (one stream, state carried).",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )
    bptt: int = _field(
        35,
        "Tokens per evaluation chunk; the state is carried, so the result "
        "does not depend on it (only the speed does).",
        lower=1,
        upper=MAX_BPTT,
    )
    epoch_batch_size: int = _field(
        64, "Rows for the validation perplexity after every epoch.", lower=1, upper=MAX_BATCH_SIZE
    )


@dataclasses.dataclass(frozen=True)
class PTBFinalConfig(Validated):
    """Training a found PTB cell from scratch, evaluating it and exporting it."""

    child: FinalModelConfig = dataclasses.field(default_factory=FinalModelConfig)
    train: FinalTrainConfig = dataclasses.field(default_factory=FinalTrainConfig)
    eval: FinalEvalConfig = dataclasses.field(default_factory=FinalEvalConfig)
    cell: str = _field(
        "enas",
        "Which recurrent cell: 'enas' (the architecture given by "
        "--fixed_arc or --arc_file) or 'lstm' (the baseline).",
        choices=("enas", "lstm"),
    )
    fixed_arc: Optional[str] = _field(
        None,
        "The architecture: space-separated integers in --arc_format (e.g. the ptb_final.sh arc).",
    )
    arc_file: Optional[str] = _field(
        None,
        "A search's best_architecture.json (or its "
        "working directory) to read the architecture from; when given, "
        "--fixed_arc is ignored (with a notice).",
    )
    arc_format: str = _field(
        "enas_lm",
        "Encoding of --fixed_arc: 'enas_lm' (node 0 fixed to "
        "tanh) or 'original' (melodyguan/enas).",
        choices=("enas_lm", "original"),
    )
    num_nodes: Optional[int] = _field(
        None,
        "Nodes N of --fixed_arc, node 0 included (default: inferred from the arc's length).",
        lower=limits.RNN_NUM_NODES[0],
        upper=limits.RNN_NUM_NODES[1],
    )
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)
    seed: int = _field(
        0, "Seed for weights, dropout masks and data order.", lower=0, upper=MAX_SEED
    )
    mixed_precision_dtype: str = mixed_precision_field()
    data_dir: str = _field("data/ptb", "Directory with ptb.{train,valid,test}.txt.")
    export_tflite: bool = _field(
        False,
        "Also write export/model.tflite, a TensorFlow Lite model of the final network "
        "(token ids and state in, next-token log-probabilities and state out; batch 1), beside the SavedModel.",
    )
    workdir: Optional[str] = _field(
        None,
        "Working directory: config, logs, checkpoints, "
        "results, export; an existing one is resumed.",
    )

    def to_dict(self):
        """Returns the config as nested plain dicts (JSON-serialisable)."""
        return dataclasses.asdict(self)
