"""Perplexity of a fixed language model over a whole split, with the state carried."""

import math
import weakref

import numpy as np
import tensorflow as tf

__all__ = ["perplexity", "stream_chunks"]

_EVAL_FNS = weakref.WeakKeyDictionary()


def stream_chunks(tokens, batch_size, bptt):
    """Cuts a token stream into `batch_size` rows and yields `(x, y)` chunks of ≤ `bptt` columns.

    Like the PTB input producer (reference §8.1), but nothing is dropped except the
    `len(tokens) % batch_size` tail tokens: the last chunk is shorter, so every other
    token's successor is predicted exactly once. Row b of a chunk continues row b of
    the previous one.

    Raises:
        ValueError: if the stream has fewer than `2 * batch_size` tokens.
    """
    tokens = np.asarray(tokens, np.int32)
    batch_len = len(tokens) // batch_size
    if batch_len < 2:
        raise ValueError(
            f"`tokens` needs at least 2 * batch_size = {2 * batch_size} tokens. "
            f"Received: len(tokens)={len(tokens)}"
        )
    rows = tokens[: batch_size * batch_len].reshape(batch_size, batch_len)
    for start in range(0, batch_len - 1, bptt):
        end = min(start + bptt, batch_len - 1)
        yield rows[:, start:end], rows[:, start + 1 : end + 1]


def _eval_fn(model):
    """A `tf.function` `(x, y, state) → (summed nats, new_state)`; one per model, traced once."""
    if model not in _EVAL_FNS:
        width = model.inputs[1].shape[-1]

        @tf.function(
            input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2
            + [tf.TensorSpec([None, width], tf.float32)]
        )
        def step(x, y, state):
            logits, new_state = model([x, state], training=False)  # (B, T, V)
            nats = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            return tf.reduce_sum(tf.cast(nats, tf.float64)), new_state

        _EVAL_FNS[model] = step
    return _EVAL_FNS[model]


def perplexity(model, tokens, batch_size=64, bptt=35):
    """Perplexity of `model` over the whole stream `tokens`, the state carried throughout.

    The state starts at zero and is carried from chunk to chunk (truncated BPTT at
    evaluation, reference §4.2). `batch_size=1` is the paper's test protocol (one
    stream, state carried at every token); `bptt` only changes the speed.

    Args:
        model: from `build_fixed_model` (inputs `[token_ids, state]`).
        tokens: 1-D int array, a whole split.
        batch_size: rows the stream is cut into.
        bptt: tokens per chunk.

    Returns:
        A dict: `loss` (mean nats per predicted token), `ppl` = exp(loss), `num_tokens`.

    Raises:
        ValueError: if `batch_size` or `bptt` < 1 or the stream is too short.

    Example:
    >>> perplexity(lm, data.test, batch_size=1, bptt=200)["ppl"]  # doctest: +SKIP
    """
    for name, value in (("batch_size", batch_size), ("bptt", bptt)):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1. Received: {name}={value}")
    step = _eval_fn(model)
    state = tf.zeros([batch_size, model.inputs[1].shape[-1]], tf.float32)
    total, count = 0.0, 0
    for x, y in stream_chunks(tokens, batch_size, bptt):
        nats, state = step(tf.constant(x), tf.constant(y), state)
        total += float(nats)
        count += y.size
    loss = total / count
    return {"loss": loss, "ppl": math.exp(loss), "num_tokens": count}
