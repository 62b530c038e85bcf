"""`--distribution_strategy` → a `tf.distribute.Strategy`; the replica-side step helpers.

Strategies follow TF Model Garden's names (`off`, `one_device`, `mirrored`,
`multi_worker_mirrored`, `tpu`). Build a search or a model under `strategy.scope()`
and `fit()` runs every step on all replicas: each replica gets its share of the
global batch, and the steps call `all_reduce_gradients` and `apply_gradients` so
that the update is the single-device update on the whole global batch.
"""

import contextlib
import json
import os

import keras
import tensorflow as tf

from keras_enas.run import nonfinite

__all__ = [
    "all_finite",
    "all_reduce_gradients",
    "apply_gradients",
    "broadcast_from_first",
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


def num_replicas(strategy=None):
    """Replicas in sync of `strategy` (default: the current one; 1 outside any scope)."""
    return (strategy or tf.distribute.get_strategy()).num_replicas_in_sync


def check_global_batch(batch_size, name, strategy=None):
    """Checks that a global batch of `batch_size` splits evenly across the replicas.

    Raises:
        ValueError: e.g. "`--child_batch_size` (the global batch) must be divisible by
            the 3 replicas. Received: child_batch_size=8".
    """
    n = num_replicas(strategy)
    if batch_size % n:
        raise ValueError(
            f"`--{name}` (the global batch) must be divisible by the {n} replicas of "
            f"the distribution strategy. Received: {name}={batch_size}"
        )
    return batch_size // n


_LOCAL_BATCH_NORM = [False]


@contextlib.contextmanager
def local_batch_norm(local=True):
    """Batch norms built inside use each replica's own statistics (if `local`).

    A search that trains a different arc on each replica must build its shared model so:
    a synchronised batch norm inside an op that only some replicas run would wait for
    the others forever.
    """
    _LOCAL_BATCH_NORM.append(bool(local))
    try:
        yield
    finally:
        _LOCAL_BATCH_NORM.pop()


def sync_batch_norm():
    """Whether a batch norm built now averages its statistics over the global batch.

    True under a strategy with several replicas (the one-device statistics), unless
    inside `local_batch_norm()`.
    """
    return num_replicas() > 1 and not _LOCAL_BATCH_NORM[-1]


def replica_id():
    """This replica's index (an int32 scalar tensor; 0 outside `strategy.run`)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.constant(0, tf.int32)
    return tf.cast(ctx.replica_id_in_sync_group, tf.int32)


def replicas_in_step():
    """Replicas the current step runs on (1 outside `strategy.run` or with one replica)."""
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def broadcast_from_first(value):
    """Replica 0's `value` on every replica (all-reduce of a masked copy; cheap for arcs)."""
    if replicas_in_step() == 1:
        return value
    ctx = tf.distribute.get_replica_context()
    first = tf.cast(tf.equal(replica_id(), 0), tf.float32)
    total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(value, tf.float32) * first)
    return tf.cast(tf.round(total), value.dtype)


def gather_scalars(value):
    """Every replica's scalar `value`, as a vector `(replicas,)` on every replica."""
    n = replicas_in_step()
    if n == 1:
        return tf.reshape(value, [1])
    ctx = tf.distribute.get_replica_context()
    mask = tf.one_hot(replica_id(), n, on_value=True, off_value=False)
    # tf.where, not a product: a NaN reward (diverged child) must not spread to the others.
    mine = tf.where(mask, tf.cast(value, tf.float32), 0.0)
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, mine)


def all_reduce_gradients(grads):
    """The gradient of the global batch: the mean of the replicas' gradients.

    Each replica's gradient is that of the mean loss on its share of the batch; with
    equal shares their mean is the gradient of the mean loss on the global batch, so
    clipping it afterwards (`tf.clip_by_global_norm`) clips as on one device.
    """
    if replicas_in_step() == 1:
        return grads
    ctx = tf.distribute.get_replica_context()
    dense = [tf.convert_to_tensor(g) if g is not None else None for g in grads]
    present = [g for g in dense if g is not None]
    reduced = iter(ctx.all_reduce(tf.distribute.ReduceOp.MEAN, present))
    return [next(reduced) if g is not None else None for g in dense]


def apply_gradients(optimizer, grads, variables):
    """`optimizer.apply` of gradients that are already the same on every replica.

    Keras' TensorFlow optimizers SUM the gradients over the replicas before updating
    (they expect each replica's loss scaled by 1 / replicas); gradients reduced by
    `all_reduce_gradients` (or computed identically on every replica) are divided by
    the number of replicas first, so the update is the single-device one.
    """
    n = replicas_in_step()
    if n > 1:
        grads = [g / n if g is not None else None for g in grads]
    optimizer.apply(grads, variables)


def all_finite(finite):
    """`finite` (a scalar bool) and-ed over the replicas, so that all skip a step together."""
    if replicas_in_step() == 1:
        return finite
    ctx = tf.distribute.get_replica_context()
    return ctx.all_reduce(tf.distribute.ReduceOp.MIN, tf.cast(finite, tf.float32)) > 0.5


def guarded_update(finite, update, args=(), restore=(), counter=None):
    """`run.nonfinite.guarded_update` of `update(*args)` on every replica at once.

    On one replica this is `nonfinite.guarded_update`. Under a strategy whose
    optimizer updates need a `merge_call` (e.g. `MirroredStrategy`), that call may
    not sit inside a `tf.cond` in the replica context; as Keras' LossScaleOptimizer
    does, the `tf.cond` then runs in the cross-replica context and calls `update` on
    each replica. Every per-replica tensor `update` uses must come through `args`;
    `finite` must be the same on every replica (`all_finite`).

    Args:
        finite: scalar bool tensor, equal on every replica.
        update: callable `update(*args)` applying the step.
        args: tensors (nested lists allowed) `update` takes.
        restore: `(variable, value)` pairs written back on each replica when skipped.
        counter: integer variable incremented once when the step is skipped.
    """
    ctx = tf.distribute.get_replica_context()
    if replicas_in_step() == 1 or tf.__internal__.distribute.strategy_supports_no_merge_call():
        return nonfinite.guarded_update(finite, lambda: update(*args), restore, counter)
    variables = [v for v, _ in restore]

    def put_back(values):
        for variable, value in zip(variables, values):
            variable.assign(value)

    def cross_replica(strategy, finite, args, values):
        def apply():
            strategy.extended.call_for_each_replica(update, args=args)
            return tf.constant(True)

        def skip():
            strategy.extended.call_for_each_replica(put_back, args=(values,))
            if counter is not None:
                counter.assign_add(tf.ones_like(counter))
            return tf.constant(False)

        return tf.cond(strategy.experimental_local_results(finite)[0], apply, skip)

    return ctx.merge_call(cross_replica, args=(finite, tuple(args), [x for _, x in restore]))


def replica_state(global_rows, width, name, batch_name="batch_size"):
    """A carried state with one `(global_rows / replicas, width)` copy per replica.

    The rows of a global minibatch are split across the replicas in order, so each
    replica carries the state of its own rows (truncated BPTT). The variable is
    synchronised on read; a checkpoint holds the first replica's copy (the searches
    and trainings zero their states at every epoch start, before which they save).

    Raises:
        ValueError: if `global_rows` does not split evenly across the replicas.
    """
    rows = check_global_batch(global_rows, batch_name)
    return keras.Variable(
        initializer="zeros",
        shape=(rows, width),
        dtype="float32",
        trainable=False,
        synchronization="on_read",
        aggregation="only_first_replica",
        name=name,
    )


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


class BuiltBeforeFit:
    """Mixin for `keras.Model`s whose variables all exist before `fit` (set `built`).

    Under a strategy, Keras' TensorFlow trainer first reduces one input batch across
    the replicas to build the model symbolically; with integer inputs (token ids,
    labels) that reduction fails under `MultiWorkerMirroredStrategy`. A model built
    by its `build_*` function needs no symbolic build, so it is skipped.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.built:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def step_logs(logs):
    """A step's logs, shaped for Keras' reduction across workers.

    Under a multi-worker `MultiWorkerMirroredStrategy`, Keras (3.15) reduces every
    logged value with `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars;
    a value of shape `(1,)` reduces to the scalar mean over the replicas instead.
    """
    strategy = tf.distribute.get_strategy()
    in_multi_worker = getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or not in_multi_worker():
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}
