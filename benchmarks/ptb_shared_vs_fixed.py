"""ms per train step: the shared PTB model (a sampled arc per step) vs the fixed model of one arc.

Both run in the same process with the same sizes, dropouts, L2 (1e-7), clipping (0.25)
and SGD; their steps are timed in alternating rounds so that machine load hits both
alike. Prints one JSON object.

    python benchmarks/ptb_shared_vs_fixed.py --steps 10 --rounds 3
"""

import argparse
import json
import os
import time

from machine_info import machine

SIZE = dict(hidden_size=200, num_nodes=8, batch_size=64, bptt=35, vocab_size=10000)


def _timed(step, args_fn, steps):
    times = []
    for i in range(steps):
        args = args_fn(i)
        start = time.perf_counter()
        float(step(*args))
        times.append(time.perf_counter() - start)
    return times


def run(steps, rounds, seed=0):
    """Builds both models and times their train steps; returns a JSON-ready dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_enas.models import SharedRNNLM, fixed_rnn
    from keras_enas.search_spaces import rnn
    from keras_enas.tasks.ptb.lm_trainer import LMTrainer

    c = SIZE
    space = rnn.RNNCellSpace(c["num_nodes"], "enas_lm")
    rng = np.random.default_rng(seed)
    b, t, v, h = c["batch_size"], c["bptt"], c["vocab_size"], c["hidden_size"]
    shared = SharedRNNLM(space, vocab_size=v, hidden_size=h, seed=seed)
    shared_opt = keras.optimizers.SGD(1.0)
    shared_opt.build(shared.trainable_variables)

    @tf.function
    def shared_step(x, y, state, arc):  # as the search's child step (ENAS §2.2, phase 1)
        with tf.GradientTape() as tape:
            loss, new_state = shared.cross_entropy(x, y, state, arc, training=True)
            objective = loss + 1e-7 * shared.l2_penalty(arc)
        grads = tape.gradient(objective, shared.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, 0.25)
        shared_opt.apply(grads, shared.trainable_variables)
        state.assign(new_state)
        return loss

    arcs = [space.random_arc(rng) for _ in range(steps * rounds + 1)]
    fixed = fixed_rnn.build_fixed_model(space, arcs[0], v, h, seed=seed)
    trainer = LMTrainer(fixed, b, l2=1e-7, slowness=0.0, grad_clip=0.25)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    trainer.optimizer.build(fixed.trainable_variables)
    fixed_step = tf.function(lambda x, y: trainer.train_step((x, y))["final_train_loss"])
    batches = [
        (
            tf.constant(rng.integers(0, v, (b, t)), tf.int32),
            tf.constant(rng.integers(0, v, (b, t)), tf.int32),
        )
        for _ in range(4)
    ]
    state = tf.Variable(tf.zeros([b, h]))
    arc_tensors = [tf.constant(a) for a in arcs]

    def shared_args(i):
        return (*batches[i % 4], state, arc_tensors[1 + i % (len(arcs) - 1)])

    first = {}
    for name, step, args in (
        ("shared", shared_step, shared_args),
        ("fixed", fixed_step, lambda i: batches[i % 4]),
    ):
        start = time.perf_counter()
        _timed(step, args, 2)  # trace, compile, warm up
        first[name] = time.perf_counter() - start
    times = {"shared": [], "fixed": []}
    for _ in range(rounds):  # alternate, so that load changes hit both
        times["shared"] += _timed(shared_step, shared_args, steps)
        times["fixed"] += _timed(fixed_step, lambda i: batches[i % 4], steps)
    ms = {k: 1e3 * float(np.median(t)) for k, t in times.items()}
    return {
        "config": c,
        "ms_per_step_shared_sampled_arcs": ms["shared"],
        "ms_per_step_fixed": ms["fixed"],
        "ratio_shared_over_fixed": ms["shared"] / ms["fixed"],
        "ms_min": {k: 1e3 * min(t) for k, t in times.items()},
        "warmup_s": first,
        "num_parameters": {
            "shared": fixed_rnn.num_parameters(shared),
            "fixed": fixed_rnn.num_parameters(fixed),
        },
        "fixed_arc": space.format_arc(arcs[0]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per model per round.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating timing rounds.")
    args = parser.parse_args()
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be >= 1.")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = run(args.steps, args.rounds)
    print(
        json.dumps({"benchmark": "ptb_shared_vs_fixed", "machine": machine(), **result}, indent=1)
    )


if __name__ == "__main__":
    main()
