"""Cost of the non-finite guard in the shared-weight step; prints one JSON object.

Times `ENASSearch.child_train_step` (the guard: `tf.math.is_finite` on the loss and the
gradient norm, a snapshot of the carried state / BatchNorm statistics, one `tf.cond`)
against the same step without the guard, in alternating rounds in one process, for the
PTB search (default hidden 200, 8 nodes, batch 64 x BPTT 35, vocabulary 10k) and a
macro CIFAR search (default 6 layers, 24 filters).

    python benchmarks/nonfinite_guard_step.py --steps 10 --rounds 5
"""

import argparse
import json
import os
import time

from machine_info import machine


def _unguarded(search):
    """`search.child_train_step` as it was before the guard."""
    import tensorflow as tf

    def step(x, y, arc):
        variables = search.child.trainable_variables
        with tf.GradientTape() as tape:
            loss, objective = search.child_loss(x, y, arc, training=True)
        grads = tape.gradient(objective, variables)
        if search.grad_clip > 0:
            grads, _ = tf.clip_by_global_norm(grads, search.grad_clip)
        search.optimizer.apply(grads, variables)
        return loss

    return step


def _searches(args):
    import numpy as np

    from keras_enas import config as config_lib
    from keras_enas.config.cifar import CIFARChildConfig, CIFARSearchConfig
    from keras_enas.tasks.cifar import search as cifar_search
    from keras_enas.tasks.ptb import search as ptb_search

    child = config_lib.RNNChildConfig(
        num_nodes=8,
        hidden_size=args.hidden,
        batch_size=args.batch,
        eval_batch_size=args.batch,
        bptt=35,
    )
    ptb_config = config_lib.PTBSearchConfig(child=child)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 10000, (1, args.batch, 35)).astype(np.int32)
    ptb = ptb_search.build_ptb_search(ptb_config, 10000, (tokens, tokens))
    x = rng.integers(0, 10000, (args.batch, 35)).astype(np.int32)
    yield "ptb", ptb, x, x
    cifar = CIFARSearchConfig(
        child=CIFARChildConfig(num_layers=args.layers, filters=args.filters, batch_size=args.batch)
    )
    images = rng.integers(0, 256, (args.batch, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, args.batch).astype(np.int32)
    mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)
    macro = cifar_search.build_cifar_search(cifar, (images, labels), mean, std)
    yield "macro", macro, images.astype(np.float32) / 255, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per round.")
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds.")
    parser.add_argument("--hidden", type=int, default=200, help="PTB hidden size.")
    parser.add_argument("--batch", type=int, default=64, help="Minibatch size (both tasks).")
    parser.add_argument("--layers", type=int, default=6, help="Macro CNN layers.")
    parser.add_argument("--filters", type=int, default=24, help="Macro CNN filters.")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    report = {"machine": machine(), "args": vars(args)}
    for name, search, x, y in _searches(args):
        arc = tf.constant(search.space.random_arc(0))
        fns = {
            "guarded": tf.function(search.child_train_step),
            "unguarded": tf.function(_unguarded(search)),
        }
        for fn in fns.values():
            fn(x, y, arc).numpy()  # trace
        times = {k: [] for k in fns}
        for _ in range(args.rounds):
            for key, fn in fns.items():
                start = time.perf_counter()
                for _ in range(args.steps):
                    fn(x, y, arc).numpy()
                times[key].append((time.perf_counter() - start) / args.steps)
        medians = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
        report[name] = {
            "ms_per_step_median": medians,
            "guarded_over_unguarded": medians["guarded"] / medians["unguarded"],
        }
    report["load_avg_1m_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
