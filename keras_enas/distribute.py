"""`--distribution_strategy` → a `tf.distribute.Strategy`, and the global batch checks.

Strategies follow TF Model Garden's names (`off`, `one_device`, `mirrored`,
`multi_worker_mirrored`, `tpu`). Build a search or a model under `strategy.scope()`
and `fit()` runs every step on all replicas: each replica gets its share of the
global batch, and the steps call the replica-side helpers of `distribute_steps`
(re-exported here: `all_reduce_gradients`, `apply_gradients`, ...) so that the
update is the single-device update on the whole global batch.
"""

import contextlib
import json
import os

import tensorflow as tf

from keras_enas.distribute_steps import (
    BuiltBeforeFit,
    all_finite,
    all_reduce_gradients,
    apply_gradients,
    broadcast_from_first,
    check_global_batch,
    checked_gradients,
    gather_scalars,
    guarded_update,
    local_batch_norm,
    num_replicas,
    replica_id,
    replica_state,
    replicas_in_step,
    step_logs,
    sync_batch_norm,
)

__all__ = [
    "all_finite",
    "all_reduce_gradients",
    "apply_gradients",
    "broadcast_from_first",
    "checked_gradients",
    "BuiltBeforeFit",
    "check_global_batch",
    "check_tf_config",
    "gather_scalars",
    "guarded_update",
    "get_strategy",
    "local_batch_norm",
    "num_replicas",
    "replica_id",
    "replica_state",
    "replicas_in_step",
    "scope",
    "step_logs",
    "strategy_for",
    "sync_batch_norm",
]


def get_strategy(distribution_strategy="one_device", tpu=""):
    """Returns the `tf.distribute.Strategy` a `--distribution_strategy` value names.

    Args:
        distribution_strategy: `"off"` (None: TensorFlow's default strategy),
            `"one_device"` (the first GPU, else the CPU), `"mirrored"` (every local
            GPU, else every logical CPU device), `"multi_worker_mirrored"` (the
            cluster in `TF_CONFIG`) or `"tpu"`.
        tpu: the TPU's name or address, for `"tpu"`.

    Returns:
        The strategy, or None for `"off"`.

    Raises:
        ValueError: on an unknown name, a missing or invalid `TF_CONFIG` for
            `multi_worker_mirrored`, or no TPU reachable for `tpu`.

    Example:
    >>> strategy = get_strategy("mirrored")  # doctest: +SKIP
    >>> with strategy.scope():  # doctest: +SKIP
    ...     search = keras_enas.ENAS(model, loss="sparse_categorical_crossentropy")
    """
    name = distribution_strategy
    if name == "off":
        return None
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker_mirrored":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _tpu_strategy(tpu)
    raise ValueError(
        "`distribution_strategy` must be one of ['off', 'one_device', 'mirrored', "
        f"'multi_worker_mirrored', 'tpu']. Received: distribution_strategy={name!r}"
    )


def check_tf_config(text):
    """Checks a `TF_CONFIG` value: a cluster with workers and this host's task in it.

    Raises:
        ValueError: naming what is missing, in one line.
    """
    where = "--distribution_strategy=multi_worker_mirrored needs TF_CONFIG"
    if not text:
        raise ValueError(
            f"{where}: the environment variable is not set. Example: TF_CONFIG="
            '\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} to be JSON. Received: TF_CONFIG={text!r} ({e})") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not (cluster.get("worker") or cluster.get("chief")):
        raise ValueError(f"{where} with a 'cluster' of 'worker' addresses. Received: {text}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f"{where} with a 'task' whose 'type' is in the cluster. Received: {text}")
    index = task.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise ValueError(
            f"{where} with a 'task' 'index' in [0, {len(cluster[task['type']])}). Received: {text}"
        )


def _tpu_strategy(tpu):
    """Connects to the TPU `tpu` and returns a `TPUStrategy` (one-line error without one)."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except Exception as e:  # noqa: BLE001 - TF raises many kinds here; all mean "no TPU"
        reason = " ".join(str(e).split())[:200]
        raise ValueError(
            "--distribution_strategy=tpu needs a reachable TPU; none found at "
            f"--tpu={tpu!r} ({type(e).__name__}: {reason})"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def scope(strategy):
    """`strategy.scope()`, or a no-op context for None (`--distribution_strategy=off`)."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def strategy_for(config, global_batches):
    """The strategy of `config.distribute`, with every global batch size checked.

    Args:
        config: a program's config (its `distribute` section names the strategy).
        global_batches: `{flag name: value}` of the batch sizes split across replicas.

    Raises:
        ValueError: as `get_strategy` and `check_global_batch`, in one line.
    """
    d = config.distribute
    strategy = get_strategy(d.distribution_strategy, d.tpu)
    for name, value in global_batches.items():
        check_global_batch(value, name, strategy)
    return strategy
