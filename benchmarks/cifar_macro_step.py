"""Speed of one CIFAR-10 macro train step: the shared network on sampled arcs vs the fixed one.

Prints one JSON object. Each measurement runs in its own subprocess (fresh graph, its own
peak RSS). `--num_arcs` uniform arcs are drawn; the fixed network is built for each of them
with the same constant width F (no widening at the reductions) and timed, and the shared
network is timed on each of the same arcs and on a fresh arc every step (as the search
runs). The ratios compare the same arcs, so they are the price of weight sharing, not of
one arc being cheaper than another. With `--jit`, XLA (`jit_compile=True`) variants are
measured too, each given `--compile_timeout` seconds. The first step (trace + graph
optimisation) is reported alone, `--warmup` steps after it are dropped, and step times are
given as p10 / median / p90. `results.<size>_shared` and `ratios.<size>_shared` hold the
figures of the shared network (the fixed ones: `results.<size>_fixed<i>`).

    python benchmarks/cifar_macro_step.py --sizes cpu,paper --steps 10 --jit
    python benchmarks/cifar_macro_step.py --sizes search12 --num_arcs 1
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from machine_info import machine

SIZES = {  # configs/cifar10_macro_search_cpu.flags and the paper's search (reference §4.1)
    "cpu": dict(num_layers=6, filters=20, batch_size=64),
    "paper": dict(num_layers=12, filters=36, batch_size=128),
    "search12": {"num_layers": 12, "filters": 36, "batch_size": 32},  # search depth, width
}
WARMUP = 2  # steps after the first one that run untimed


def _step_fn(model, optimizer, shared, jit_compile):
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def step(images, labels, arc):
        with tf.GradientTape() as tape:
            logits = (
                model(images, arc, training=True)[0] if shared else model(images, training=True)
            )
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            if shared:
                loss += 2.5e-4 * model.l2_penalty(arc)
        grads = tape.gradient(loss, model.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def _timed(step, images, labels, arcs):
    import numpy as np
    import tensorflow as tf

    times = []
    for arc in arcs:
        start = time.perf_counter()
        step(images, labels, tf.constant(arc)).numpy()
        times.append(time.perf_counter() - start)
    p10, median, p90 = np.percentile(times, [10, 50, 90])
    return {
        "p10": round(1e3 * p10, 1),
        "median": round(1e3 * median, 1),
        "p90": round(1e3 * p90, 1),
    }


def run(size, kind, steps, jit_compile, num_arcs, seed=0):
    """Builds one model, times its train step; returns a dict (in the subprocess).

    `kind` is "shared" (timed on each of the `num_arcs` arcs, then on fresh arcs) or
    "fixed<i>" (the fixed network of arc i).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_enas.models.fixed_macro import build_fixed_macro
    from keras_enas.models.shared_macro import SharedMacroCNN
    from keras_enas.search_spaces.macro import MacroSpace

    cfg = SIZES[size]
    keras.utils.set_random_seed(seed)
    space, rng = MacroSpace(cfg["num_layers"]), np.random.default_rng(seed)
    arcs = [space.random_arc(rng) for _ in range(num_arcs + steps)]
    batch = cfg["batch_size"]
    images = tf.random.normal((batch, 32, 32, 3))
    labels = tf.constant(rng.integers(0, 10, batch), tf.int32)
    shared = kind == "shared"
    if shared:
        model = SharedMacroCNN(space, filters=cfg["filters"], seed=seed)
        model(images[:1], arcs[0])
    else:
        index = int(kind[len("fixed") :])
        arcs = [arcs[index]]
        model = build_fixed_macro(
            space, arcs[0], filters=cfg["filters"], dropout=0.1, widen_factor=1, seed=seed
        )
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    optimizer.build(model.trainable_variables)
    step = _step_fn(model, optimizer, shared, jit_compile)
    start = time.perf_counter()
    step(images, labels, tf.constant(arcs[0])).numpy()
    first = time.perf_counter() - start
    _timed(step, images, labels, [arcs[0]] * WARMUP)  # dropped
    stats = [
        _timed(step, images, labels, [arc] * steps) for arc in (arcs[:num_arcs] if shared else arcs)
    ]
    result = {
        "per_arc_step_ms": [s["median"] for s in stats],
        "per_arc_step_ms_p10_p90": [(s["p10"], s["p90"]) for s in stats],
    }
    if shared:  # a fresh arc every step, as in the search
        fresh = _timed(step, images, labels, arcs[num_arcs:])
        result["random_arcs_step_ms"] = fresh["median"]
        result["random_arcs_step_ms_p10_p90"] = (fresh["p10"], fresh["p90"])
        result["images_per_s"] = round(1e3 * batch / fresh["median"], 1)
    else:
        result["images_per_s"] = round(1e3 * batch / stats[0]["median"], 1)
    return {
        "size": size,
        "kind": kind,
        "jit_compile": jit_compile,
        **cfg,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "first_step_s": round(first, 2),
        **result,
        "arcs": [space.format_arc(arc) for arc in arcs[:num_arcs]],
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "traces": step.experimental_get_tracing_count(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _subprocess(size, kind, steps, jit_compile, num_arcs, timeout):
    args = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        size,
        kind,
        str(steps),
        str(int(jit_compile)),
        str(num_arcs),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {
            "size": size,
            "kind": kind,
            "jit_compile": jit_compile,
            "error": f"no result within {timeout} s (compilation included)",
        }
    if proc.returncode:
        return {
            "size": size,
            "kind": kind,
            "jit_compile": jit_compile,
            "error": proc.stderr.strip().splitlines()[-1],
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="cpu", help="Comma-separated keys of SIZES.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per variant.")
    parser.add_argument("--jit", action="store_true", help="Also measure XLA variants.")
    parser.add_argument(
        "--compile_timeout",
        type=int,
        default=600,
        help="Seconds allowed per variant, compilation included.",
    )
    parser.add_argument(
        "--num_arcs",
        type=int,
        default=3,
        help="Uniform arcs on which shared and fixed are compared.",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, kind, steps, jit, num_arcs = args.child
        print(json.dumps(run(size, kind, int(steps), bool(int(jit)), int(num_arcs))))
        return
    results, flat, ratios = [], {}, {}
    for size in args.sizes.split(","):
        for jit in (False, True) if args.jit else (False,):
            shared = _subprocess(
                size, "shared", args.steps, jit, args.num_arcs, args.compile_timeout
            )
            fixed = [
                _subprocess(size, f"fixed{i}", args.steps, jit, args.num_arcs, args.compile_timeout)
                for i in range(args.num_arcs)
            ]
            entry = {"shared": shared, "fixed": fixed}
            if "error" not in shared and not any("error" in f for f in fixed):
                fixed_ms = [f["per_arc_step_ms"][0] for f in fixed]
                entry["shared_over_fixed_same_arc"] = [
                    round(s / f, 2) for s, f in zip(shared["per_arc_step_ms"], fixed_ms)
                ]
                mean_fixed = sum(fixed_ms) / len(fixed_ms)
                entry["shared_over_fixed_mean"] = round(
                    sum(shared["per_arc_step_ms"]) / len(fixed_ms) / mean_fixed, 2
                )
                entry["shared_random_arcs_over_fixed_mean"] = round(
                    shared["random_arcs_step_ms"] / mean_fixed, 2
                )
                ratios[f"{size}{'_jit' * jit}_shared"] = {
                    "random_arcs_over_fixed": entry["shared_random_arcs_over_fixed_mean"],
                    "same_arc_over_fixed": entry["shared_over_fixed_mean"],
                }
            results.append(entry)
            flat[f"{size}{'_jit' * jit}_shared"] = shared
            flat.update({f"{size}{'_jit' * jit}_fixed{i}": f for i, f in enumerate(fixed)})
    print(
        json.dumps(
            {
                "benchmark": "cifar_macro_step",
                "machine": machine(),
                "results": flat,
                "ratios": ratios,
                "per_size": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
