"""PTB search configuration: the child LM, the controller, the search loop."""

import dataclasses
from typing import Optional

from keras_enas.config.base import (
    MAX_BATCH_SIZE,
    MAX_BPTT,
    MAX_EPOCHS,
    MAX_HIDDEN_SIZE,
    MAX_SEED,
    Validated,
    mixed_precision_field,
)
from keras_enas.config.base import field as _field
from keras_enas.config.distribute import DistributeConfig
from keras_enas.config.search import ControllerConfig, SearchConfig
from keras_enas.search_spaces import limits

__all__ = ["MAX_SHARED_CELL_WEIGHTS", "PTBSearchConfig", "RNNChildConfig", "shared_cell_weights"]

# The shared cell's weight banks grow as N^2 H^2; the paper's N = 12, H = 1000 has 0.53e9.
MAX_SHARED_CELL_WEIGHTS = 1_000_000_000


def shared_cell_weights(num_nodes, hidden_size, share_by_activation=True):
    """Weights of the shared recurrent cell (`SharedRNNCell`): one (H, 2H) matrix per
    (node, input node[, activation]) pair, plus node 0's four (2H, 2H) matrices."""
    pairs = num_nodes * (num_nodes - 1) // 2 * (4 if share_by_activation else 1)
    return pairs * 2 * hidden_size**2 + 4 * 4 * hidden_size**2


@dataclasses.dataclass(frozen=True)
class RNNChildConfig(Validated):
    """The shared-weight PTB language model (the child) and how ω is trained."""

    num_nodes: int = _field(
        12,
        "Nodes N in the recurrent cell, node 0 included (paper: 12).",
        lower=limits.RNN_NUM_NODES[0],
        upper=limits.RNN_NUM_NODES[1],
    )
    arc_format: str = _field(
        "enas_lm",
        "Arc encoding: 'enas_lm' (the authors' corrected code, "
        "node 0 fixed to tanh) or 'original' (melodyguan/enas).",
        choices=("enas_lm", "original"),
    )
    hidden_size: int = _field(
        1000, "Hidden size = embedding size of the language model.", lower=1, upper=MAX_HIDDEN_SIZE
    )
    output_mode: str = _field(
        "loose_ends",
        "Cell output: average of the loose ends (paper) or "
        "of all nodes but node 0 (enas_lm GPU code).",
        choices=("loose_ends", "all_nodes"),
    )
    share_by_activation: bool = _field(
        True,
        "One weight matrix per (node, input node, "
        "activation), as the code does; False: per (node, input "
        "node), as the paper describes.",
    )
    drop_e: float = _field(
        0.1, "Embedding dropout: probability of dropping a word type.", lower=0.0, upper=0.99
    )
    drop_i: float = _field(
        0.2, "Locked dropout probability on the embedded inputs.", lower=0.0, upper=0.99
    )
    drop_x: float = _field(
        0.75, "Variational dropout probability on the cell input.", lower=0.0, upper=0.99
    )
    drop_l: float = _field(
        0.25,
        "Variational dropout probability on the state fed to each node.",
        lower=0.0,
        upper=0.99,
    )
    drop_o: float = _field(
        0.75, "Locked dropout probability on the cell outputs.", lower=0.0, upper=0.99
    )
    init_range: float = _field(
        0.04, "Weights are initialised U[-init_range, init_range].", lower=0.0
    )
    batch_size: int = _field(
        64,
        "Global training minibatch size (rows of the token stream, split across replicas).",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )
    bptt: int = _field(35, "Truncated back-propagation length in tokens.", lower=1, upper=MAX_BPTT)
    learning_rate: float = _field(
        20.0,
        "SGD learning rate for the shared weights ω (on the global-batch mean gradient).",
        lower=0.0,
    )
    lr_decay: float = _field(
        0.96,
        "Multiply the learning rate by this every epoch from `lr_decay_start` on.",
        lower=0.0,
        upper=1.0,
    )
    lr_decay_start: int = _field(
        15, "First epoch (0-based) at which the decay applies.", lower=0, upper=MAX_EPOCHS
    )
    grad_clip: float = _field(0.25, "Global-norm gradient clipping for ω (0 disables).", lower=0.0)
    l2: float = _field(1e-7, "L2 weight on the weights a step uses.", lower=0.0)
    eval_batch_size: int = _field(
        64,
        "Global minibatch size for validation, and rows of a reward minibatch.",
        lower=1,
        upper=MAX_BATCH_SIZE,
    )

    def __post_init__(self):
        super().__post_init__()
        weights = shared_cell_weights(self.num_nodes, self.hidden_size, self.share_by_activation)
        if weights > MAX_SHARED_CELL_WEIGHTS:
            raise ValueError(
                f"`num_nodes` must fit the shared cell's weight budget: N={self.num_nodes} and "
                f"hidden_size={self.hidden_size} give {weights:,} weights (N(N-1)/2 pairs x "
                f"2H^2, x 4 with share_by_activation), more than the "
                f"{MAX_SHARED_CELL_WEIGHTS:,} allowed (4 GB of float32); lower num_nodes or "
                f"hidden_size. Received: num_nodes={self.num_nodes}, "
                f"hidden_size={self.hidden_size}"
            )


@dataclasses.dataclass(frozen=True)
class PTBSearchConfig(Validated):
    """A whole PTB recurrent-cell search."""

    child: RNNChildConfig = dataclasses.field(default_factory=RNNChildConfig)
    controller: ControllerConfig = dataclasses.field(default_factory=ControllerConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)
    seed: int = _field(
        0, "Seed for weights, dropout, arc sampling and data order.", lower=0, upper=MAX_SEED
    )
    mixed_precision_dtype: str = mixed_precision_field()
    data_dir: str = _field("data/ptb", "Directory with ptb.{train,valid,test}.txt.")
    workdir: Optional[str] = _field(
        None, "Working directory: config, logs, checkpoints, results; an existing one is resumed."
    )

    def to_dict(self):
        """Returns the config as nested plain dicts (JSON-serialisable)."""
        return dataclasses.asdict(self)
