"""The controller: one LSTM policy θ that samples an arc by walking a space's decision steps."""

import itertools
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_enas import controller_schema as schema
from keras_enas.search_spaces import base

__all__ = ["Controller"]


class Controller(keras.Model):
    """LSTM policy that samples an architecture token by token (ENAS §2.1–§2.4).

    One controller serves every search space: it walks the space's `steps`, running one
    bias-free LSTM step (gate order i, f, o, g) per step, and samples the tokens of
    `OpChoice`, `InputChoice` and `SkipChoice` steps. Op choices use a softmax over the
    vocabulary's ops; input and skip choices use additive attention over the anchors
    (controller states of earlier nodes). Logits are post-processed in the order of the
    original code: `/ temperature`, then `C * tanh`, then fixed biases (ENAS §3.2).

    The sampler state is a `keras.random.SeedGenerator`, whose state variable is owned as
    the non-trainable weight `sampler_state`, so weight files and checkpoints restore it.

    Args:
        steps: sequence of `OpChoice`, `InputChoice`, `SkipChoice` and `AnchorStep`.
        initial_anchors: number of zero-vector anchors present before the first step.
        hidden_size: LSTM width `h`.
        temperature: if set, logits are divided by it. Must be > 0.
        tanh_constant: if set, logits become `C * tanh(logits)` (times the op choice's
            `tanh_constant_scale`). Must be > 0.
        init_range: weights are drawn from U[-init_range, init_range].
        seed: int seed for the weight initialisers and the sampler.
        skip_target: target skip probability ρ of the skip KL penalty, in (0, 1).
        sample_order: the space's `sample_order` (arc position of each sampled token);
            arcs are returned, and scored, in the space's stored order. None: identity.
        name: model name.

    Raises:
        ValueError: on out-of-range arguments or an invalid schema.
        TypeError: on an unknown schema step.

    Example:

    >>> from keras_enas.search_spaces.base import InputChoice, OpChoice
    >>> steps = (OpChoice("op0", "ops", 4), InputChoice("in1", 1), OpChoice("op1", "ops", 4))
    >>> controller = Controller(steps, initial_anchors=1, hidden_size=32, seed=0)
    >>> arc, log_prob, entropy = controller.sample()   # arc: int32 [3]
    """

    def __init__(
        self,
        steps: Sequence[base.OpChoice | base.InputChoice | base.SkipChoice | base.AnchorStep],
        initial_anchors: int = 0,
        hidden_size: int = 100,
        temperature: float | None = None,
        tanh_constant: float | None = None,
        init_range: float = 0.1,
        seed: int | None = None,
        skip_target: float = 0.4,
        sample_order: Sequence[int] | None = None,
        name: str = "controller",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        steps = tuple(steps)
        schema.check_arguments(
            steps, initial_anchors, hidden_size, temperature, tanh_constant, init_range, skip_target
        )
        self._steps, self.initial_anchors, self.hidden_size = steps, initial_anchors, hidden_size
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.skip_target = skip_target
        self._order = schema.sample_order(sample_order, base.arc_length(steps))
        seeds = itertools.count(0 if seed is None else seed)
        h = hidden_size

        def weight(name, shape, init=None):
            init = init or keras.initializers.RandomUniform(
                -init_range, init_range, seed=None if seed is None else next(seeds)
            )
            return self.add_weight(shape=shape, initializer=init, name=name)

        self.w_lstm = weight("w_lstm", (2 * h, 4 * h))
        self.g_emb = weight("g_emb", (1, h))
        # Per op vocabulary: attributes `w_emb_<vocab>`, `w_soft_<vocab>` [, `b_soft_<vocab>`].
        for vocab, (num_ops, bias) in schema.vocabularies(steps).items():
            setattr(self, f"w_emb_{vocab}", weight(f"w_emb_{vocab}", (num_ops, h)))
            setattr(self, f"w_soft_{vocab}", weight(f"w_soft_{vocab}", (h, num_ops)))
            if bias is not None:  # learnable logit bias, e.g. micro's [10, 10, 0, 0, 0]
                init = keras.initializers.Constant(np.asarray(bias, "float32"))
                setattr(self, f"b_soft_{vocab}", weight(f"b_soft_{vocab}", (num_ops,), init))
        self.w_attn_1 = weight("w_attn_1", (h, h))
        self.w_attn_2 = weight("w_attn_2", (h, h))
        self.v_attn = weight("v_attn", (h, 1))
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Keras weight files and tf.train.Checkpoint skip SeedGenerator state: own the
        # state variable as a plain non-trainable weight instead (listed once).
        self._tracker.untrack(self.seed_generator)
        self.sampler_state = self.seed_generator.state
        self._probs_sink = None  # a list while `decision_probs` records π(a_i | a_<i)
        self.built = True

    @property
    def steps(self):
        """The schema steps this controller walks."""
        return self._steps

    @property
    def arc_length(self):
        """Number of int tokens in a sampled arc."""
        return base.arc_length(self._steps)

    def sample(self, return_skip_penalty=False):
        """Samples one arc.

        Args:
            return_skip_penalty: also return the skip KL penalty (ENAS §3.3): the mean over
                `SkipChoice` steps of `KL(q || [1 - skip_target, skip_target])`, with
                `q = sigmoid(post-processed skip logits)`; 0 without skip choices.

        Returns:
            `(arc, log_prob, entropy)` (plus `skip_penalty` if requested): `arc` int32 of
            shape `[arc_length]` in step order; `log_prob` the sum of log π over every
            decision; `entropy` the sum of the decisions' exact categorical entropies.
        """
        outputs = self._walk(1)
        outputs = (self._to_arc_order(outputs[0]),) + tuple(outputs[1:])
        return tuple(x[0] for x in outputs[: 4 if return_skip_penalty else 3])

    def sample_batch(self, batch_size, return_skip_penalty=False):
        """Samples `batch_size` independent arcs; outputs as `sample()` with a batch axis."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be an int >= 1. Received: batch_size={batch_size}")
        outputs = self._walk(batch_size)
        outputs = (self._to_arc_order(outputs[0]),) + tuple(outputs[1:])
        return outputs[: 4 if return_skip_penalty else 3]

    def log_prob(self, arc, return_skip_penalty=False):
        """Scores a given arc (teacher forcing: the same walk, with the arc's tokens).

        Args:
            arc: int tokens of shape `[arc_length]` or `[batch, arc_length]`.
            return_skip_penalty: also return the skip KL penalty, as in `sample()`.

        Returns:
            `(log_prob, entropy)` (plus `skip_penalty`), scalars or `[batch]` vectors.
            Tokens are not range-checked: an out-of-range token scores log π = 0.

        Raises:
            ValueError: if `arc` has the wrong rank or length.
        """
        arc = ops.convert_to_tensor(arc, "int32")
        if len(arc.shape) not in (1, 2) or arc.shape[-1] != self.arc_length:
            raise ValueError(
                f"`arc` must have shape [{self.arc_length}] or [batch, "
                f"{self.arc_length}]. Received: arc.shape={arc.shape}"
            )
        single = len(arc.shape) == 1
        batch = ops.expand_dims(arc, 0) if single else arc
        if self._order is not None:  # stored order -> the order the walk samples in
            batch = ops.take(batch, self._order[0], axis=1)
        outputs = self._walk(ops.shape(batch)[0], batch)[1 : 4 if return_skip_penalty else 3]
        return tuple(x[0] for x in outputs) if single else outputs

    def decision_probs(self, batch_size=1, arc=None):
        """The exact conditional distribution π(a_i | a_<i) of every token along arcs.

        Samples `batch_size` arcs (or teacher-forces `arc`) and records, for each token,
        the probabilities the policy gave its choices given the tokens before it. A skip
        bit's distribution is `[P(off), P(on)]`. The mean over sampled arcs is an unbiased
        estimate of the token's marginal (exact for the first sampled token).

        Args:
            batch_size: number of arcs to sample (ignored when `arc` is given).
            arc: optional int tokens `[batch, arc_length]` in stored order to score.

        Returns:
            `(arcs, probs)`: int32 `[B, arc_length]` and a list of `arc_length` float
            tensors `[B, num_choices[i]]`, both in the space's stored arc order.

        Raises:
            ValueError: if `batch_size` is not an int >= 1, or `arc` has a bad shape.
        """
        if arc is None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"`batch_size` must be an int >= 1. Received: batch_size={batch_size}")
        if arc is not None:
            arc = ops.convert_to_tensor(arc, "int32")
            if len(arc.shape) != 2 or arc.shape[-1] != self.arc_length:
                raise ValueError(
                    f"`arc` must have shape [batch, {self.arc_length}]. "
                    f"Received: arc.shape={arc.shape}"
                )
            batch_size = arc.shape[0]
        given = arc if arc is None or self._order is None else ops.take(arc, self._order[0], 1)
        self._probs_sink = []
        try:
            tokens = self._walk(batch_size, given)[0]
            recorded = iter(self._probs_sink)
        finally:
            self._probs_sink = None
        probs = []  # in sampling order: one [B, K] per token
        for step in self._steps:
            if isinstance(step, base.SkipChoice):
                bits = ops.reshape(next(recorded), (batch_size, step.num_anchors, 2))
                probs.extend(bits[:, j] for j in range(step.num_anchors))
            elif not isinstance(step, base.AnchorStep):
                probs.append(next(recorded))
        if self._order is not None:
            probs = [probs[i] for i in self._order[1]]
        return (self._to_arc_order(tokens) if arc is None else arc), probs

    def _to_arc_order(self, sampled):
        """Puts tokens `[B, L]` from sampling order into the space's stored arc order."""
        if self._order is None:
            return sampled
        return ops.take(sampled, self._order[1], axis=1)

    def _walk(self, batch_size, arc=None):
        """Runs the LSTM over every step; samples tokens unless `arc` `[B, L]` is given."""
        zeros = ops.zeros((batch_size, self.hidden_size))
        g_emb = ops.tile(self.g_emb, (batch_size, 1))
        x, h, c = g_emb, zeros, zeros
        anchors = [zeros] * self.initial_anchors  # feedback vectors, each (B, h)
        keys = [zeros] * self.initial_anchors  # attention keys W1·state, each (B, h)
        tokens, log_prob, entropy, kls, pos = [], 0.0, 0.0, [], 0
        for step in self._steps:
            h, c = self._lstm(x, h, c)
            given = None if arc is None else arc[:, pos : pos + step.num_tokens]
            pos += step.num_tokens
            if isinstance(step, base.AnchorStep):
                if step.reset_anchors:  # micro: the reduce cell restarts its anchor list
                    anchors, keys = [], []
                anchors.append(zeros if step.zero_anchor else h)
                keys.append(ops.matmul(h, self.w_attn_1))
                x = g_emb if step.reset_input else x
                continue
            if isinstance(step, base.OpChoice):
                token, lp, ent, x = self._op_step(step, h, given)
            elif isinstance(step, base.InputChoice):
                token, lp, ent, x = self._input_step(step, h, anchors, keys, given)
            else:
                token, lp, ent, x, kl = self._skip_step(step, h, anchors, keys, given)
                kls.append(kl)
            tokens.append(ops.reshape(token, (batch_size, -1)))
            log_prob, entropy = log_prob + lp, entropy + ent
            if getattr(step, "register_anchor", False):  # ENAS §2.1: h stands for this node
                anchors.append(h)
                keys.append(ops.matmul(h, self.w_attn_1))
        penalty = ops.mean(ops.stack(kls), axis=0) if kls else ops.zeros((batch_size,))
        return ops.concatenate(tokens, axis=1), log_prob, entropy, penalty

    def _lstm(self, x, h, c):
        """One plain LSTM step without biases, gates i, f, o, g as in the original."""
        i, f, o, g = ops.split(ops.matmul(ops.concatenate([x, h], 1), self.w_lstm), 4, 1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c), c

    def _post(self, logits, scale=1.0):
        """ENAS §3.2: `logits / temperature`, then `C · tanh(logits)`."""
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * scale * ops.tanh(logits)
        return logits

    def _choose(self, logits, given):
        """Samples (or takes `given`) tokens from `logits` `[N, K]`; returns log π and H."""
        if given is None:
            given = keras.random.categorical(logits, 1, "int32", seed=self.seed_generator)
        token = ops.reshape(given, (-1,))
        logp = ops.log_softmax(logits, axis=-1)
        if self._probs_sink is not None:
            self._probs_sink.append(ops.exp(logp))
        chosen = ops.sum(ops.one_hot(token, logits.shape[-1]) * logp, axis=-1)
        return token, chosen, -ops.sum(ops.exp(logp) * logp, axis=-1)

    def _scores(self, h, keys):
        """Additive attention `vᵀ tanh(W1·anchor_j + W2·h)` over `keys`; returns (B, n)."""
        query = ops.expand_dims(ops.matmul(h, self.w_attn_2), 1)  # (B, 1, h)
        hidden = ops.tanh(ops.stack(keys, axis=1) + query)  # (B, n, h)
        return ops.squeeze(ops.matmul(hidden, self.v_attn), -1)

    def _op_step(self, step, h, given):
        logits = ops.matmul(h, getattr(self, f"w_soft_{step.vocab}"))
        if step.bias_init is not None:
            logits = logits + getattr(self, f"b_soft_{step.vocab}")
        logits = self._post(logits, step.tanh_constant_scale)
        if step.fixed_bias is not None:
            logits = logits + np.asarray(step.fixed_bias, "float32")
        token, log_prob, entropy = self._choose(logits, given)
        x = ops.take(getattr(self, f"w_emb_{step.vocab}"), token, axis=0)
        return token, log_prob, entropy, x

    def _input_step(self, step, h, anchors, keys, given):
        n = step.num_anchors
        logits = self._post(self._scores(h, keys[:n]))
        distance = n - np.arange(n, dtype="float32")
        if step.recency_bias:  # ENAS §3.3 (PTB): favour recent nodes
            logits = logits - distance**2 / 6.0
        token, log_prob, entropy = self._choose(logits, given)
        weights = ops.one_hot(token, n)
        if step.distance_scaled_feedback:
            weights = weights / (0.1 + distance)
        x = ops.einsum("bn,bnh->bh", weights, ops.stack(anchors[:n], axis=1))
        return token, log_prob, entropy, x

    def _skip_step(self, step, h, anchors, keys, given):
        n = step.num_anchors
        scores = self._scores(h, keys[:n])
        logits = self._post(ops.stack([-scores, scores], axis=-1))  # (B, n, 2)
        token, log_prob, entropy = self._choose(ops.reshape(logits, (-1, 2)), given)
        bits = ops.cast(ops.reshape(token, (-1, n)), "float32")
        log_prob = ops.sum(ops.reshape(log_prob, (-1, n)), axis=1)
        entropy = ops.sum(ops.reshape(entropy, (-1, n)), axis=1)
        # ENAS §3.3 skip KL penalty: q = σ(post-processed logits), target ρ = [1 - p, p].
        q = ops.sigmoid(logits)
        rho = np.asarray([1.0 - self.skip_target, self.skip_target], "float32")
        kl = ops.sum(q * ops.log(ops.maximum(q, 1e-12) / rho), axis=(1, 2))
        x = ops.einsum("bn,bnh->bh", bits, ops.stack(anchors[:n], axis=1))
        x = x / (1.0 + ops.sum(bits, axis=1, keepdims=True))
        return ops.reshape(token, (-1, n)), log_prob, entropy, x, kl
