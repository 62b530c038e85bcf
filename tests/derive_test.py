"""Tests for the less noisy derive: M shared validation minibatches, the top k in the result."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from ptb_test_utils import synthetic_inputs, tiny_config

from keras_enas.search import derive
from keras_enas.tasks.ptb import search as run_ptb


def test_minibatch_scores_average_the_same_m_batches():
    config = tiny_config()
    inputs = synthetic_inputs(config)
    search = run_ptb.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    x_all, y_all = inputs["reward_batches"]
    arcs = [search.space.random_arc(i) for i in range(3)]
    indices = derive.pick_batches(len(x_all), 3, seed=0)
    assert len(set(indices)) == 3 and indices[0] == derive.pick_batch(len(x_all), 0)
    scores = search.score_arcs(arcs, "minibatch", num_batches=3)
    for arc, score in zip(arcs, scores):
        losses = [
            float(search.batch_loss(tf.constant(x_all[i]), tf.constant(y_all[i]), tf.constant(arc)))
            for i in indices
        ]
        assert score["valid_ppl"] == pytest.approx(math.exp(np.mean(losses)), rel=1e-5)
    # One batch is the paper's scoring, unchanged.
    one = search.score_arcs(arcs[:1], "minibatch")[0]["valid_ppl"]
    loss = float(
        search.batch_loss(
            tf.constant(x_all[indices[0]]), tf.constant(y_all[indices[0]]), tf.constant(arcs[0])
        )
    )
    assert one == pytest.approx(math.exp(loss), rel=1e-5)
    assert derive.pick_batches(2, 5, seed=0) in ([0, 1], [1, 0])  # capped at what exists
    with pytest.raises(ValueError, match="num_batches"):
        derive.derive(search, 2, num_batches=0)


def test_best_architecture_lists_the_top_k(tmp_path):
    config = tiny_config(
        str(tmp_path / "run"),
        num_epochs=1,
        derive_num_samples=8,
        derive_num_batches=2,
        derive_top_k=3,
    )
    result = run_ptb.run_ptb_search(config, **synthetic_inputs(config))
    written = json.loads((tmp_path / "run" / "best_architecture.json").read_text())
    assert written["top_k"] == json.loads(json.dumps(result["top_k"]))
    top = written["top_k"]
    assert len(top) == min(3, len(written["scores"])) and len(top) >= 2
    assert top[0]["arc"] == written["arc"] and "node" in top[0]["decoded_text"]
    assert [t["reward"] for t in top] == sorted([t["reward"] for t in top], reverse=True)
    assert written["scoring_num_batches"] == 2
