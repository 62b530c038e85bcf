"""Speed of one CIFAR-10 macro train step: the shared network on sampled arcs vs the fixed one.

Every figure times the library's own compiled steps (`library_steps.py`): the `fit` step of a
`CIFARSearch` built as `search_cifar10` builds it (random strategy: a fresh uniform arc drawn
inside every step) and its `child_train_step` on given arcs, against the `fit` step of the
final training's `ClassifierTrainer` on each arc's fixed network (search width, no widening);
both with the search's loss (CE + L2 2.5e-4, clip 5) and Nesterov SGD. Prints one JSON
object. Each measurement runs in its own subprocess (fresh graph, its own peak RSS, read
before the `child_train_step` is traced). `--num_arcs` uniform arcs are drawn; the fixed network is built for each of them
with the same constant width F (no widening at the reductions) and timed, and the shared
network is timed on each of the same arcs and on a fresh arc every step (as the search
runs). The ratios compare the same arcs, so they are the price of weight sharing, not of
one arc being cheaper than another. With `--jit`, XLA (`jit_compile=True`) variants are
measured too, each given `--compile_timeout` seconds. The first step (trace + graph
optimisation) is reported alone, the `WARMUP` steps after it are dropped, and step times are
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

from machine_info import machine

SIZES = {  # configs/cifar10_macro_search_cpu.flags and the paper's search (reference §4.1)
    "cpu": dict(num_layers=6, filters=20, batch_size=64),
    "paper": dict(num_layers=12, filters=36, batch_size=128),
    "search12": {"num_layers": 12, "filters": 36, "batch_size": 32},  # search depth, width
    "tiny": {"num_layers": 3, "filters": 4, "batch_size": 4},  # smoke run of the script
}
WARMUP = 2  # steps after the first one that run untimed


def _stats(times):
    import library_steps as lib

    stats = lib.percentiles(times)
    return {k: stats[k] for k in ("p10", "median", "p90")}


def run(size, kind, steps, jit_compile, num_arcs, seed=0):
    """Builds one model, times the library's own train step; returns a dict (in the subprocess).

    `kind` is "shared": the `CIFARSearch` `fit` step (random strategy: a fresh uniform
    arc inside every step) and its `child_train_step` on each of the `num_arcs` arcs; or
    "fixed<i>": the final training's `ClassifierTrainer` `fit` step on the fixed network
    of arc i at the search's constant width (`widen_factor=1`).
    """
    import library_steps as lib
    import numpy as np
    import tensorflow as tf

    from keras_enas.config.cifar import CIFARChildConfig
    from keras_enas.search_spaces.macro import MacroSpace

    cfg = SIZES[size]
    space, rng = MacroSpace(cfg["num_layers"]), np.random.default_rng(seed)
    arcs = [space.random_arc(rng) for _ in range(num_arcs)]
    batch = cfg["batch_size"]
    images = tf.constant(rng.normal(size=(batch, 32, 32, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, 10, batch), tf.int32)
    child = CIFARChildConfig(
        num_layers=cfg["num_layers"], filters=cfg["filters"], batch_size=batch, dropout=0.1
    )  # the macro search's L2 2.5e-4 and clip 5 (config defaults)
    shared = kind == "shared"
    if shared:
        model = lib.cifar_search("macro", child, seed, jit_compile)
        net = model.child
    else:
        arcs = [arcs[int(kind[len("fixed") :])]]
        model = lib.cifar_final(space, arcs[0], child, seed, jit_compile, widen_factor=1)
        net = model.network
    step = lib.fit_step(model)
    first = lib.timed(step, [(images, labels)])[0]
    lib.timed(step, [(images, labels)] * WARMUP)  # dropped
    fit_stats = _stats(lib.timed(step, [(images, labels)] * steps))
    result = {"first_step_s": round(first, 2), "traces": len(step.traces)}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if shared:  # the fit step: a fresh arc every step, as in the search
        result["random_arcs_step_ms"] = fit_stats["median"]
        result["random_arcs_step_ms_p10_p90"] = (fit_stats["p10"], fit_stats["p90"])
        result["images_per_s"] = round(1e3 * batch / fit_stats["median"], 1)
        same_arc = lib.arc_step(model)  # the search's child step, one arc repeated
        arc_args = [(images, labels, tf.constant(arc)) for arc in arcs]
        result["first_step_s_same_arc"] = round(lib.timed(same_arc, arc_args[:1])[0], 2)
        lib.timed(same_arc, arc_args[:1] * WARMUP)
        stats = [_stats(lib.timed(same_arc, [a] * steps)) for a in arc_args]
        result["peak_rss_mb_with_same_arc_step"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
    else:
        stats = [fit_stats]
        result["images_per_s"] = round(1e3 * batch / fit_stats["median"], 1)
    result["per_arc_step_ms"] = [s["median"] for s in stats]
    result["per_arc_step_ms_p10_p90"] = [(s["p10"], s["p90"]) for s in stats]
    return {
        "size": size,
        "kind": kind,
        "jit_compile": jit_compile,
        **cfg,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **result,
        "arcs": [space.format_arc(arc) for arc in arcs],
        "trainable_parameters": lib.num_parameters(net),
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
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH", "")]
    )
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
