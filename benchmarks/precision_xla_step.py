"""bfloat16 vs float32, and XLA vs graph mode, on the searches' shared step; prints JSON.

Each task builds three searches with the library's builders (`build_ptb_search`,
`build_cifar_search`) from one config: float32 in graph mode, `--mixed_precision_dtype
=bfloat16` in graph mode, and float32 with `--search_jit_compile` (micro: then
`compute_all` op selection, as `auto` picks). Each runs the search's own compiled
child step (`ENASSearch.step_functions()["child_step"]`, what `fit` runs) on random
arcs; the first call's seconds are the trace (+ XLA compilation). Steps alternate
between the variants so that a shared machine's load hits them alike: compare ratios.

    python benchmarks/precision_xla_step.py --tasks ptb,micro,macro --steps 6
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np
from machine_info import machine

VARIANTS = (("float32", False), ("bfloat16", False), ("float32", True))
SIZES = {  # small: the searches' structure at CPU-test widths (compiles in minutes)
    "ptb": dict(hidden_size=128, num_nodes=6, batch_size=32, bptt=35, vocab_size=10000),
    "micro": dict(num_layers=3, filters=8, batch_size=16, image_size=32),
    "macro": dict(num_layers=3, filters=16, batch_size=16, image_size=32),
}


def _ptb_search(dtype, jit, size):
    from keras_enas import config as config_lib
    from keras_enas.tasks.ptb import search as ptb_search

    child = config_lib.RNNChildConfig(
        num_nodes=size["num_nodes"],
        hidden_size=size["hidden_size"],
        batch_size=size["batch_size"],
        eval_batch_size=size["batch_size"],
        bptt=size["bptt"],
    )
    config = config_lib.PTBSearchConfig(
        child=child,
        search=config_lib.SearchConfig(jit_compile=jit),
        mixed_precision_dtype=dtype,
    )
    rng = np.random.default_rng(0)
    shape = (2, size["batch_size"], size["bptt"])
    reward = tuple(rng.integers(0, size["vocab_size"], shape).astype(np.int32) for _ in "xy")
    search = ptb_search.build_ptb_search(config, size["vocab_size"], reward)
    return search, (reward[0][0], reward[1][0])


def _cifar_search(space, dtype, jit, size):
    from keras_enas.config.cifar import CIFARChildConfig, CIFARSearchConfig
    from keras_enas.config.search import SearchConfig
    from keras_enas.tasks.cifar import search as cifar_search

    child = CIFARChildConfig(
        num_layers=size["num_layers"], filters=size["filters"], batch_size=size["batch_size"]
    )
    config = CIFARSearchConfig(
        search_space=space,
        child=child,
        search=SearchConfig(jit_compile=jit),
        mixed_precision_dtype=dtype,
    )
    rng = np.random.default_rng(0)
    n, s = size["batch_size"], size["image_size"]
    images = rng.integers(0, 256, (n, s, s, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int32)
    mean, std = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)
    search = cifar_search.build_cifar_search(config, (images, labels), mean, std)
    x = ((images.astype(np.float32) / 255 - mean) / std).astype(np.float32)
    return search, (x, labels)


def run_task(task, steps):
    """Compile seconds and median step seconds of the three variants of `task`."""
    import tensorflow as tf

    size = SIZES[task]
    runs = {}
    for dtype, jit in VARIANTS:
        if task == "ptb":
            search, (x, y) = _ptb_search(dtype, jit, size)
        else:
            search, (x, y) = _cifar_search(task, dtype, jit, size)
        step = search.step_functions()["child_step"]
        arcs = [tf.constant(search.space.random_arc(i)) for i in range(steps + 2)]
        x, y = tf.constant(x), tf.constant(y)
        start = time.perf_counter()
        step(x, y, arcs[0]).numpy()
        first = time.perf_counter() - start
        runs[(dtype, jit)] = dict(step=step, arcs=arcs, x=x, y=y, first=first, times=[])
    for i in range(1, steps + 2):  # round robin; the first round is a warm-up
        for run in runs.values():
            start = time.perf_counter()
            run["step"](run["x"], run["y"], run["arcs"][i]).numpy()
            if i > 1:
                run["times"].append(time.perf_counter() - start)
    out = {}
    for (dtype, jit), run in runs.items():
        median = statistics.median(run["times"])
        out[f"{dtype}{'_xla' if jit else ''}"] = {
            "median_step_s": round(median, 4),
            "first_call_s": round(run["first"], 1),
            "compile_s_estimate": round(run["first"] - median, 1),
        }
    base = out["float32"]["median_step_s"]
    out["bfloat16_over_float32"] = round(out["bfloat16"]["median_step_s"] / base, 3)
    out["xla_over_graph"] = round(out["float32_xla"]["median_step_s"] / base, 3)
    out["size"] = size
    return out


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="ptb,micro,macro", help="Comma-separated tasks.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per variant.")
    args = parser.parse_args(argv)
    report = {"machine_start": machine(), "steps": args.steps, "tasks": {}}
    for task in args.tasks.split(","):
        report["tasks"][task] = run_task(task, args.steps)
        print(json.dumps({task: report["tasks"][task]}), file=sys.stderr, flush=True)
    report["machine_end"] = machine()
    report["note"] = (
        "Ratios are of median wall seconds per child train step, steps alternating "
        "between variants in one process; micro's XLA variant runs compute_all (every "
        "op, masked), its graph variants switch_case (only the sampled op)."
    )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
