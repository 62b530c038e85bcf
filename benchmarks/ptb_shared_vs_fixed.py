"""ms per train step: the shared PTB model (a sampled arc per step) vs the fixed model of one arc.

Both are the library's own compiled `fit` steps (library_steps.py): a `PTBSearch` built as
`search_ptb` builds it (random strategy: a fresh uniform arc drawn inside every step) and
the final training's `LMTrainer` on the fixed model of one arc, in the same process with
the same sizes, dropouts, L2 (1e-7), clipping (0.25) and SGD; their steps are timed in
alternating rounds so that machine load hits both alike. Prints one JSON object.

    python benchmarks/ptb_shared_vs_fixed.py --steps 10 --rounds 3
"""

import argparse
import json
import os

from machine_info import machine

SIZE = dict(hidden_size=200, num_nodes=8, batch_size=64, bptt=35, vocab_size=10000)


def run(steps, rounds, seed=0):
    """Builds both models and times their library train steps; returns a JSON-ready dict."""
    import keras
    import library_steps as lib
    import numpy as np
    import tensorflow as tf

    from keras_enas.config.ptb import RNNChildConfig
    from keras_enas.models import fixed_rnn
    from keras_enas.tasks.ptb.lm_trainer import LMTrainer

    c = SIZE
    b, t, v, h = c["batch_size"], c["bptt"], c["vocab_size"], c["hidden_size"]
    child = RNNChildConfig(
        num_nodes=c["num_nodes"],
        arc_format="enas_lm",
        hidden_size=h,
        batch_size=b,
        bptt=t,
        eval_batch_size=b,
        l2=1e-7,
        grad_clip=0.25,
        learning_rate=1.0,
    )
    search = lib.ptb_search(child, vocab_size=v, seed=seed)
    rng = np.random.default_rng(seed)
    arc = search.space.random_arc(rng)
    fixed = fixed_rnn.build_fixed_model(search.space, arc, v, h, seed=seed)
    trainer = LMTrainer(fixed, b, l2=1e-7, slowness=0.0, grad_clip=0.25)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    trainer.optimizer.build(fixed.trainable_variables)
    steps_of = {"shared": lib.fit_step(search), "fixed": lib.fit_step(trainer)}
    batches = [
        tuple(tf.constant(rng.integers(0, v, (b, t)), tf.int32) for _ in range(2)) for _ in range(4)
    ]
    first = {}
    for name, step in steps_of.items():
        first[name] = sum(lib.timed(step, batches[:2]))  # trace, compile, warm up
    times = {"shared": [], "fixed": []}
    for _ in range(rounds):  # alternate, so that load changes hit both
        for name, step in steps_of.items():
            times[name] += lib.timed(step, [batches[i % 4] for i in range(steps)])
    ms = {k: lib.percentiles(t) for k, t in times.items()}
    return {
        "config": c,
        "ms_per_step_shared_sampled_arcs": ms["shared"],
        "ms_per_step_fixed": ms["fixed"],
        "ratio_shared_over_fixed": ms["shared"]["median"] / ms["fixed"]["median"],
        "warmup_s": first,
        "traces": {k: len(s.traces) for k, s in steps_of.items()},
        "num_parameters": {
            "shared": fixed_rnn.num_parameters(search.child),
            "fixed": fixed_rnn.num_parameters(fixed),
        },
        "fixed_arc": search.space.format_arc(arc),
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
