"""Helpers of the PTB search tests: a tiny search config and synthetic token streams."""

import numpy as np

from keras_enas import config as config_lib
from keras_enas.data import ptb


def tiny_config(workdir=None, **search):
    """A search small enough for unit tests (hidden 16, 4 nodes, 5-token BPTT)."""
    child = config_lib.RNNChildConfig(
        num_nodes=4, hidden_size=16, batch_size=4, eval_batch_size=4, bptt=5
    )
    controller = config_lib.ControllerConfig(hidden_size=16, train_steps=2, num_aggregate=2)
    settings = dict(
        num_epochs=2, steps_per_epoch=3, valid_steps=2, derive_num_samples=3, log_num_arcs=2
    )
    settings.update(search)
    return config_lib.PTBSearchConfig(
        child=child,
        controller=controller,
        search=config_lib.SearchConfig(**settings),
        workdir=workdir,
        seed=3,
    )


def synthetic_inputs(config, vocab_size=50, tokens=2000):
    """A patterned token stream (mechanics only): datasets and reward batches."""
    stream = (np.arange(tokens) * 7 % vocab_size).astype(np.int32)
    c = config.child
    return dict(
        train_ds=ptb.lm_dataset(stream, c.batch_size, c.bptt),
        valid_ds=ptb.lm_dataset(stream[:600], c.eval_batch_size, c.bptt),
        reward_batches=ptb.lm_batches(stream[:600], c.eval_batch_size, c.bptt),
        vocab_size=vocab_size,
    )
