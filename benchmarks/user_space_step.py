"""Shared ENAS child step vs the fixed model's train step on the same arcs (example CIFAR space).

The fixed model holds only the blocks on the path to the output; the shared step skips
the blocks the arc cuts off (`search/user_liveness.py`). Arcs are timed as sampled
(uniform) and with the same ops but every block live. Shared and fixed steps are timed
in turn, so load changes during the run affect both alike.

Prints JSON: per arc the median step time of the shared supernet (the search's own
`child_train_step`, compiled, the arc an input) and of `fixed_model` for that arc (its Keras
`fit` step after `compile` with the same loss, Adam and clipping), their ratio, and the
search's own `fit` step (controller-sampled arcs). All are the library's compiled steps
(library_steps.py). Run from the repository root:
    python benchmarks/user_space_step.py
"""

import argparse
import importlib.util
import json
import os
import time

import keras
import library_steps as lib
import numpy as np
import tensorflow as tf
from machine_info import machine

import keras_enas as ke

HERE = os.path.dirname(os.path.abspath(__file__))


def load_example():
    """The example's module (examples/ is not a package), for its `build_supernet`."""
    path = os.path.join(HERE, "..", "examples", "cifar10_space.py")
    spec = importlib.util.spec_from_file_location("cifar10_space", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interleaved_medians(steps, repeats):
    """Median seconds of each step, timed in turn (ABAB...) so that a change of the
    machine's load during the run affects all of them alike."""
    for step in steps:  # trace / warm up
        step()
        step()
    times = [[] for _ in steps]
    for _ in range(repeats):
        for step, row in zip(steps, times):
            start = time.perf_counter()
            step()
            row.append(time.perf_counter() - start)
    return [float(np.median(row)) for row in times]


def live_blocks(arc):
    """Blocks of the example space on the path to the output (the fixed model drops the rest).

    The arc holds (input, op, width) per block; block k's input token picks node j
    (0 = the stem, j = block j - 1), and the output is the last block.
    """
    inputs = list(arc[0::3])
    live, node = 0, len(inputs)  # node k + 1 is block k's output
    while node > 0:
        live += 1
        node = int(inputs[node - 1])
    return live


def fixed_step(model, grad_clip):
    """The `fit` step of the fixed model compiled as a user trains it (Adam, clipped)."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=grad_clip),
        loss="sparse_categorical_crossentropy",
    )
    return lib.fit_step(model)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch_size", type=int, default=64, help="Images per step.")
    parser.add_argument("--num_arcs", type=int, default=5, help="Random arcs timed.")
    parser.add_argument("--repeats", type=int, default=20, help="Timed steps per arc and model.")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((args.batch_size, 32, 32, 3), np.float32))
    y = tf.constant(rng.integers(0, 10, args.batch_size).astype(np.int32))
    supernet = load_example().build_supernet()
    search = ke.ENAS(supernet, loss="sparse_categorical_crossentropy")
    shared = lib.arc_step(search)  # the search's own child step, the arc as an input
    search_fit = lib.fit_step(search)  # what `search.fit` runs: the arc sampled inside
    rows = []
    arcs = [search.space.random_arc(i) for i in range(args.num_arcs)]
    for i in range(args.num_arcs):  # the same ops, every block live (block k reads block k-1)
        live = arcs[i].copy()
        live[0::3] = np.arange(len(live) // 3)
        arcs.append(live)
    for arc in arcs:
        arc_t = tf.constant(arc)
        fixed = ke.fixed_model(supernet, arc)
        fixed_fit = fixed_step(fixed, search.grad_clip)
        t_shared, t_fixed = interleaved_medians(
            [lambda a=arc_t: lib.wait(shared(x, y, a)), lambda f=fixed_fit: lib.wait(f(x, y))],
            args.repeats,
        )
        rows.append(
            {
                "arc": search.space.format_arc(arc),
                "live_blocks": live_blocks(arc),
                "shared_s": t_shared,
                "fixed_s": t_fixed,
                "ratio": t_shared / t_fixed,
            }
        )
    t_fit = interleaved_medians([lambda: lib.wait(search_fit(x, y))], args.repeats)[0]
    report = {
        "benchmark": "user_space_step",
        "space": "examples/cifar10_space.py",
        "batch_size": args.batch_size,
        "traces_of_shared_step": shared.experimental_get_tracing_count(),
        "search_fit_step_s": t_fit,
        "traces_of_search_fit_step": len(search_fit.traces),
        "arcs": rows,
        "mean_ratio": float(np.mean([r["ratio"] for r in rows])),
        "mean_ratio_random_arcs": float(np.mean([r["ratio"] for r in rows[: args.num_arcs]])),
        "mean_ratio_all_blocks_live": float(
            np.mean([r["ratio"] for r in rows if r["live_blocks"] == len(arcs[0]) // 3])
        ),
        "machine": machine(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
