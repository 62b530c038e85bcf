"""Where a run computes: the `tf.distribute` strategy (flags without a section prefix).

TF Model Garden's convention: `--distribution_strategy` names the strategy and
`--tpu` the TPU to connect to. Batch sizes and learning rates in the other sections
are GLOBAL: a minibatch is split across the replicas, and the learning rate applies
to the gradient averaged over the whole minibatch, so a flagfile gives the same
optimisation on one device or on many.
"""

import dataclasses

from keras_enas.config.base import Validated
from keras_enas.config.base import field as _field

__all__ = ["DistributeConfig", "STRATEGIES"]

STRATEGIES = ("off", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


@dataclasses.dataclass(frozen=True)
class DistributeConfig(Validated):
    """The device layout of a run (flags `--distribution_strategy`, `--tpu`)."""

    distribution_strategy: str = _field(
        "one_device",
        "tf.distribute strategy: 'off' (TensorFlow's default placement), 'one_device' "
        "(the first GPU, else the CPU), 'mirrored' (every local GPU, else every logical "
        "CPU device), 'multi_worker_mirrored' (several hosts; the cluster and this "
        "host's task come from the TF_CONFIG environment variable) or 'tpu' (the TPU "
        "given by --tpu). Batch sizes are global (split across replicas) and learning "
        "rates apply to the gradient averaged over the global batch.",
        choices=STRATEGIES,
    )
    tpu: str = _field(
        "",
        "With --distribution_strategy=tpu: the TPU's name or grpc:// address "
        "('local' for a TPU VM's own chips; empty: the TPU_NAME environment).",
    )
