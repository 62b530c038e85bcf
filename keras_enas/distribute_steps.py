"""Replica-side helpers of the compiled steps under a `tf.distribute` strategy.

Called inside `train_step` (a replica context under `fit`): all-reduce the gradients
before the clip, apply them once per global batch, skip a non-finite step on every
replica together, broadcast sampled arcs, keep carried states per replica. Outside a
strategy (one replica) each is the one-device operation. Public through `distribute`.
"""

import contextlib

import keras
import tensorflow as tf

from keras_enas import precision
from keras_enas.run import nonfinite

__all__ = [
    "check_global_batch",
    "num_replicas",
    "all_finite",
    "all_reduce_gradients",
    "apply_gradients",
    "broadcast_from_first",
    "BuiltBeforeFit",
    "checked_gradients",
    "gather_scalars",
    "guarded_update",
    "local_batch_norm",
    "replica_id",
    "replica_state",
    "replicas_in_step",
    "step_logs",
    "sync_batch_norm",
]


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
    failed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    return failed < 0.5  # no replica had a non-finite step


def checked_gradients(tape, loss, objective, variables, optimizer, grad_clip):
    """The global batch's clipped gradients, and whether every replica's step is finite.

    The gradient of `objective` is all-reduced over the replicas before the clip, as on
    one device. Under loss scaling, non-finite gradients are the LossScaleOptimizer's to
    skip (it lowers the scale); a non-finite loss is skipped and counted either way.

    Returns:
        `(grads, finite)`: the clipped gradients and a scalar bool, equal on every
        replica, for `guarded_update`.
    """
    grads = all_reduce_gradients(tape.gradient(objective, variables))
    finite = all_finite(nonfinite.step_is_finite(loss, objective, grads, optimizer))
    return precision.clip_gradients(grads, grad_clip, optimizer), finite


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
