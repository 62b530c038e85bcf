"""Configuration of `rank_correlation`: do shared-weight scores rank arcs as training does?

The `child` and `train` sections are the from-scratch budget of a PTB study; a CIFAR-10
study reads its budget from a `train_cifar10` flagfile (`cifar_final_flagfile`).
"""

import dataclasses

from keras_enas.config.base import MAX_SAMPLES, MAX_SEED, Validated
from keras_enas.config.base import field as _field
from keras_enas.config.distribute import DistributeConfig
from keras_enas.config.ptb_final import (
    FinalEvalConfig,
    FinalModelConfig,
    FinalTrainConfig,
)

__all__ = ["RankCorrelationConfig"]


def _small_model():
    """The ptb_final_cpu.flags model: hidden 200, lighter dropouts for a short budget."""
    return FinalModelConfig(hidden_size=200, drop_e=0.1, drop_x=0.25, drop_l=0.1, drop_o=0.4)


def _small_budget():
    """One epoch of 200 minibatches of 64 x 35, no learning-rate decay."""
    return FinalTrainConfig(num_epochs=1, steps_per_epoch=200, lr_decay_start=100)


@dataclasses.dataclass(frozen=True)
class RankCorrelationConfig(Validated):
    """Sample K arcs, score them with the shared weights and after training from scratch."""

    child: FinalModelConfig = dataclasses.field(default_factory=_small_model)
    train: FinalTrainConfig = dataclasses.field(default_factory=_small_budget)
    eval: FinalEvalConfig = dataclasses.field(default_factory=FinalEvalConfig)
    search_workdir: str | None = _field(
        None,
        "Working directory of the search whose shared "
        "weights and controller are ranked (its newest "
        "checkpoint is loaded).",
    )
    workdir: str | None = _field(
        None,
        "Working directory of this study: arcs.json, one "
        "arcs.jsonl record per trained arc, ranking.json, "
        "ranking.png; an existing one is resumed.",
    )
    data_dir: str = _field(
        "data/ptb",
        "Directory with ptb.{train,valid,test}.txt (PTB searches) or cifar-10-batches-py "
        "(CIFAR-10 searches).",
    )
    cifar_final_flagfile: str | None = _field(
        None,
        "For a macro or micro search: a train_cifar10 flagfile whose --child_* and "
        "--train_* settings are the from-scratch budget of every arc (e.g. "
        "configs/cifar10_macro_final_smoke.flags); its arc and workdir are ignored. "
        "PTB searches use --child_* and --train_* of this program instead.",
    )
    num_arcs: int = _field(
        12, "Arcs K to sample, score and train from scratch.", lower=2, upper=1000
    )
    arc_source: str = _field(
        "controller",
        "Where the K arcs come from: the search's trained controller or uniformly from the space.",
        choices=("controller", "uniform"),
    )
    score_num_batches: int = _field(
        10,
        "Validation minibatches (the same for every arc) the "
        "shared-weight perplexity is measured on.",
        lower=1,
        upper=MAX_SAMPLES,
    )
    bootstrap_resamples: int = _field(
        2000,
        "Bootstrap resamples of the arcs for the 95% intervals of Kendall tau and Spearman rho.",
        lower=1,
        upper=1_000_000,
    )
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)
    seed: int = _field(
        0,
        "Seed for the arc sampling, the weights and data order of every "
        "training from scratch, and the bootstrap.",
        lower=0,
        upper=MAX_SEED,
    )

    def to_dict(self):
        """Returns the config as nested plain dicts (JSON-serialisable)."""
        return dataclasses.asdict(self)
