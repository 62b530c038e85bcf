"""`run_ptb_search`: a whole PTB cell search in a working directory (what `bin/` calls)."""

import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_enas import precision
from keras_enas.config import PTBSearchConfig
from keras_enas.config import base as config_base
from keras_enas.models import shared_rnn_lm
from keras_enas.run import cluster, records
from keras_enas.run import fit as fit_lib
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import dry_run, runner
from keras_enas.search_spaces import limits, rnn
from keras_enas.tasks import controller as controller_build
from keras_enas.tasks.ptb import callbacks as ptb_cb
from keras_enas.tasks.ptb.search_model import PTBSearch


def build_ptb_search(
    config: PTBSearchConfig, vocab_size: int, reward_batches: tuple[np.ndarray, np.ndarray]
) -> PTBSearch:
    """Builds and compiles a `PTBSearch` from a `PTBSearchConfig`.

    Args:
        config: a `config.PTBSearchConfig`.
        vocab_size: size of the token vocabulary.
        reward_batches: validation minibatches `(x, y)`, each `(num_batches, B, T)`.

    Returns:
        A compiled `PTBSearch` whose variables are all created.
    """
    keras.utils.set_random_seed(config.seed)
    c, k, s = config.child, config.controller, config.search
    space = rnn.RNNCellSpace(num_nodes=c.num_nodes, arc_format=c.arc_format)
    with precision.policy_scope(config.mixed_precision_dtype):  # the child only
        child = shared_rnn_lm.SharedRNNLM(
            space,
            vocab_size=vocab_size,
            hidden_size=c.hidden_size,
            drop_e=c.drop_e,
            drop_i=c.drop_i,
            drop_x=c.drop_x,
            drop_l=c.drop_l,
            drop_o=c.drop_o,
            init_range=c.init_range,
            share_by_activation=c.share_by_activation,
            output_mode=c.output_mode,
            seed=config.seed + 1,
        )
    trainer = controller_build.build_controller(space, k, seed=config.seed + 2)
    search = PTBSearch(
        space,
        child,
        trainer,
        reward_batches=reward_batches,
        batch_size=c.batch_size,
        eval_batch_size=c.eval_batch_size,
        l2=c.l2,
        reward_constant=k.reward_constant,
        strategy=s.strategy,
        grad_clip=c.grad_clip,
        seed=config.seed + 3,
        arcs_per_step=s.arcs_per_step,
    )
    search.controller_updates = k.train_steps
    search.compile(optimizer=keras.optimizers.SGD(c.learning_rate), jit_compile=s.jit_compile)
    _build(search, c.batch_size, c.bptt)
    return search


def _build(search, batch_size, bptt):
    """Creates every variable (models, both optimizers) so a checkpoint can restore them.

    The child runs one time step: its variables do not depend on the length, and an
    eager `bptt`-step forward pass at paper size left ~560 MB of temporaries in the
    process (RSS after the build 1,968 → 1,402 MiB, H = 1000, 12 nodes, batch 64).
    """
    del bptt  # the variables' shapes do not depend on it
    x = tf.zeros([search.train_state.shape[0], 1], tf.int32)  # one replica's rows, one step
    arc = tf.constant(search.space.random_arc(0))
    search.child(x, search.train_state, arc)
    search.controller.sample()
    search.optimizer.build(search.child.trainable_variables)
    search.trainer.build()
    search.built = True  # every variable exists (fit under a strategy checks it)


@cluster.chief_writes
def run_ptb_search(
    config: PTBSearchConfig,
    train_ds: tf.data.Dataset,
    valid_ds: tf.data.Dataset,
    reward_batches: tuple[np.ndarray, np.ndarray],
    vocab_size: int,
) -> dict[str, Any]:
    """Runs (or resumes) a PTB search and derives the final architecture.

    Writes into `config.workdir`: `config.json`, `checkpoints/`, `log.jsonl`,
    `tensorboard/`, `history.csv` and `best_architecture.json`. Running it again on
    the same directory resumes after the last finished epoch.

    Args:
        config: a `config.PTBSearchConfig` with `workdir` set.
        train_ds: `tf.data.Dataset` of sequential `(x, y)` training minibatches.
        valid_ds: `tf.data.Dataset` of sequential validation minibatches.
        reward_batches: validation minibatches `(x, y)` as arrays `(num_batches, B, T)`.
        vocab_size: size of the token vocabulary.

    Returns:
        The dict written to `best_architecture.json`.
    """
    workdir = runner.prepare_run(config)
    c = config.child
    workdir_lib.write_run_info(workdir, vocab_size=int(vocab_size))
    search = build_ptb_search(config, vocab_size, reward_batches)
    start = time.time()
    runner.fit_search(
        search,
        config,
        train_ds,
        valid_ds,
        callbacks=[
            ptb_cb.ResetStates(),
            ptb_cb.EpochDecay(c.learning_rate, c.lr_decay, c.lr_decay_start),
        ],
    )
    result = _derive_and_save(
        search,
        config,
        workdir,
        build_search=lambda: build_ptb_search(config, vocab_size, reward_batches),
        train_ds=train_ds,
    )
    logging.info(
        "Search done in %.0f s. Best architecture:\n%s", time.time() - start, result["decoded_text"]
    )
    return result


def describe_ptb_search(
    config: PTBSearchConfig,
    train_ds: tf.data.Dataset,
    valid_ds: tf.data.Dataset,
    reward_batches: tuple[np.ndarray, np.ndarray],
    vocab_size: int,
) -> dict[str, Any]:
    """What `search_ptb --dry_run` prints: sizes and estimated wall time; writes nothing.

    Args: as `run_ptb_search` (`config.workdir` may be unset).

    Returns:
        `dry_run.describe_search`'s dict, with `vocab_size`.
    """
    search = build_ptb_search(config, vocab_size, reward_batches)
    steps = fit_lib.steps_per_epoch(config.search.steps_per_epoch, train_ds)
    return {
        **dry_run.describe_search(search, config, train_ds, valid_ds, steps),
        "vocab_size": int(vocab_size),
    }


def _derive_and_save(search, config, workdir, build_search=None, train_ds=None):
    """Derives the best arc and writes `best_architecture.json`."""
    space = search.space
    ranked = runner.derive_best(search, config, build_search, train_ds)
    best = ranked[0]["arc"]
    arcs = {}
    for fmt in rnn.ARC_FORMATS:
        try:
            other = rnn.RNNCellSpace(space.num_nodes, fmt)
            arcs[fmt] = other.format_arc(space.convert(best, fmt))
        except ValueError as e:
            arcs[fmt] = None
            logging.info("Best arc has no %s form: %s", fmt, e)
    result = records.result_record(
        search,
        config,
        ranked,
        ("valid_ppl", "reward"),
        fixed_arc=arcs["original"],
        arc_format=space.arc_format,
        arcs=arcs,
    )
    records.write_result(workdir, result)
    records.draw_architecture(workdir, space, best)  # cell.png
    return result


def load_ptb_search(workdir, config, run_info, **kwargs):
    """Rebuilds a PTB search from its saved config (no data); `keras_enas.load_search`.

    The reward minibatches are zeros of the right shape (the data are not read):
    the reopened search samples, derives with new data, or resumes training.

    Args:
        workdir: the search's working directory.
        config: its `config.json` as a dict.
        run_info: its `run_info.json` as a dict (`vocab_size`).
        **kwargs: none are accepted (a user space's loader takes `model=`).

    Returns:
        `(config, search)`: the `PTBSearchConfig` and the compiled `PTBSearch`, its
        variables created (not yet restored).

    Raises:
        ValueError: if `run_info` lacks `vocab_size`, or `kwargs` are given.
    """
    if kwargs:
        raise ValueError(f"A ptb_rnn search takes no extra arguments. Received: {sorted(kwargs)}")
    if "vocab_size" not in run_info:
        raise ValueError(
            f"{workdir} has no vocab_size in run_info.json; it was written by an "
            "older version: re-run the search once to write it."
        )
    try:
        config = config_base.from_dict(PTBSearchConfig, config)
        vocab_size = limits.check_size("vocab_size", run_info["vocab_size"], limits.VOCAB_SIZE)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{workdir}: config.json or run_info.json: {e}") from None
    c = config.child
    batches = np.zeros((1, c.eval_batch_size, c.bptt), np.int32)
    return config, build_ptb_search(config, vocab_size, (batches, batches))


__all__ = ["build_ptb_search", "describe_ptb_search", "load_ptb_search", "run_ptb_search"]
