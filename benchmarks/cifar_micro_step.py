"""Speed of one micro-search child train step vs the fixed network of the same cells; prints JSON.

Each variant runs in its own subprocess (its own trace, compile and peak RSS):
`shared_<op_selection>[_coarse]` is a `SharedMicroCNN` step (weight sharing "fine", or
"coarse" with the suffix) on a fresh uniform arc every step, and on one arc repeated;
`fixed` is `build_fixed_micro_cnn` of that same arc with the search's layer count and
widths (no drop-path), trained with the same loss (CE + 0.4 aux CE) and optimizer. The
first step (trace + graph optimisation) is reported alone, the next `--warmup` steps are
dropped, and step times are given as p10 / median / p90. The machines are shared: with
`--rounds R` the whole list of variants runs R times in turn and each ratio shared / fixed
is the median of the R ratios measured within a round.

    python benchmarks/cifar_micro_step.py --variants shared_switch_case,fixed --rounds 2
    python benchmarks/cifar_micro_step.py --jit_compile --variants shared_compute_all,fixed
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from machine_info import machine

VARIANTS = (
    "shared_compute_all",
    "shared_switch_case",
    "shared_compute_all_coarse",
    "shared_switch_case_coarse",
    "fixed",
)


def _build(variant, cfg, space, arc):
    from keras_enas.models.fixed_micro import build_fixed_micro_cnn
    from keras_enas.models.shared_micro import SharedMicroCNN

    if variant == "fixed":
        model = build_fixed_micro_cnn(
            space,
            arc,
            num_layers=cfg["num_layers"],
            filters=cfg["filters"],
            image_shape=(cfg["size"],) * 2 + (3,),
            dropout=0.1,
            drop_path_keep_prob=None,
            seed=0,
        )
        return model, lambda x, arc, training: model(x, training=training)
    coarse = variant.endswith("_coarse")
    op_selection = variant[len("shared_") : len(variant) - len("_coarse") * coarse]
    model = SharedMicroCNN(
        space,
        num_layers=cfg["num_layers"],
        filters=cfg["filters"],
        op_selection=op_selection,
        weight_sharing="coarse" if coarse else "fine",
        seed=0,
    )
    return model, model


def _stats(times):
    """p10, median, p90 and min of step times in seconds, as milliseconds."""
    import numpy as np

    p10, median, p90 = np.percentile(times, [10, 50, 90])
    return {"p10": 1e3 * p10, "median": 1e3 * median, "p90": 1e3 * p90, "min": 1e3 * min(times)}


def run_variant(variant, cfg, steps, warmup, jit_compile, seed=0):
    """Builds one model, times its train steps, returns a dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_enas.search_spaces.micro import MicroSpace

    space = MicroSpace(cfg["num_nodes"])
    rng = np.random.default_rng(seed)
    arcs = [space.random_arc(rng) for _ in range(steps + warmup + 1)]
    if cfg["arc_ops"] == "sep":  # the controller at init: op logit bias [10, 10, 0, 0, 0]
        op_positions = space.token_layout()["op_positions"].ravel()
        for arc in arcs:
            arc[op_positions] = rng.integers(0, 2, len(op_positions))
    arcs = [tf.constant(arc) for arc in arcs]
    start = time.perf_counter()
    model, forward = _build(variant, cfg, space, arcs[0].numpy())
    b, s = cfg["batch_size"], cfg["size"]
    x = tf.constant(rng.normal(size=(b, s, s, 3)), tf.float32)
    y = tf.constant(rng.integers(0, 10, b), tf.int32)
    forward(x[:2], arcs[0], training=False)  # creates the weights
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    optimizer.build(model.trainable_variables)
    build_s = time.perf_counter() - start
    traces = []
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y, arc):
        traces.append(1)
        with tf.GradientTape() as tape:
            logits, aux_logits = forward(x, arc, training=True)
            loss = ce(y, logits) + 0.4 * ce(y, aux_logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    def timed(arc_list):
        times = []
        for arc in arc_list:
            t0 = time.perf_counter()
            train_step(x, y, arc).numpy()
            times.append(time.perf_counter() - t0)
        return times

    load = os.getloadavg()[0]
    first_s = timed(arcs[:1])[0]
    result = {"load_avg_1m_at_start": load, "build_s": build_s, "first_step_s": first_s}
    timed(arcs[1 : warmup + 1])  # warm-up steps, dropped
    modes = {"fixed_arc": arcs[:1] * steps}
    if variant != "fixed":
        modes["random_arcs"] = arcs[warmup + 1 :]
    for mode, arc_list in modes.items():
        times = timed(arc_list)
        result[f"ms_per_step_{mode}"] = _stats(times)
        result[f"images_per_s_{mode}"] = b / float(np.median(times))
    result.update(
        traces=len(traces),
        arc=space.format_arc(arcs[0].numpy()),
        num_parameters=int(sum(np.prod(w.shape) for w in model.trainable_variables)),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return result


def _ratios(rounds):
    """Per shared variant: the median over rounds of its step / the fixed step of that round."""
    import numpy as np

    per_round = {}
    for results in rounds:
        fixed = results.get("fixed", {})
        if "ms_per_step_fixed_arc" not in fixed:
            continue
        base = fixed["ms_per_step_fixed_arc"]["median"]
        for name, r in results.items():
            if name != "fixed" and "ms_per_step_random_arcs" in r:
                entry = per_round.setdefault(name, {"random": [], "same": []})
                entry["random"].append(r["ms_per_step_random_arcs"]["median"] / base)
                entry["same"].append(r["ms_per_step_fixed_arc"]["median"] / base)
    return {
        name: {
            "random_arcs_over_fixed": float(np.median(e["random"])),
            "same_arc_over_fixed": float(np.median(e["same"])),
            "random_arcs_over_fixed_per_round": [round(v, 3) for v in e["random"]],
        }
        for name, e in per_round.items()
    }


def _run_subprocess(variant, timeout):
    cmd = [sys.executable, __file__, "--worker", variant] + sys.argv[1:]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH", "")]
    )
    try:
        out = subprocess.run(
            cmd, check=True, capture_output=True, text=True, env=env, timeout=timeout
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    except subprocess.CalledProcessError as e:
        return {"error": e.stderr.strip().splitlines()[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"Among {VARIANTS}.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per arc mode.")
    parser.add_argument(
        "--warmup", type=int, default=2, help="Steps after the first one that run untimed."
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="Times the whole list of variants runs, in turn."
    )
    parser.add_argument("--batch_size", type=int, default=32, help="Images per step (160 paper).")
    parser.add_argument("--size", type=int, default=32, help="Image height = width, pixels.")
    parser.add_argument("--num_layers", type=int, default=6, help="L (6 in the search).")
    parser.add_argument("--filters", type=int, default=20, help="F (20 in the search).")
    parser.add_argument("--num_nodes", type=int, default=5, help="Decided nodes per cell.")
    parser.add_argument(
        "--arc_ops",
        default="uniform",
        choices=("uniform", "sep"),
        help="Ops of the sampled arcs: uniform over the 5, or sep3/sep5 only.",
    )
    parser.add_argument("--jit_compile", action="store_true", help="XLA-compile the step.")
    parser.add_argument("--timeout", type=float, default=900, help="Seconds per variant.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cfg = {
        k: getattr(args, k)
        for k in ("batch_size", "size", "num_layers", "filters", "num_nodes", "arc_ops")
    }
    if args.worker:
        print(json.dumps(run_variant(args.worker, cfg, args.steps, args.warmup, args.jit_compile)))
        return
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS) or min(args.steps, args.rounds) < 1 or args.warmup < 0:
        parser.error(
            f"--variants must be among {VARIANTS}, --steps and --rounds >= 1, --warmup >= 0."
        )
    rounds = [{v: _run_subprocess(v, args.timeout) for v in variants} for _ in range(args.rounds)]
    print(
        json.dumps(
            {
                "benchmark": "cifar_micro_step",
                "machine": machine(),
                "config": cfg,
                "jit_compile": args.jit_compile,
                "results": rounds[-1],
                "earlier_rounds": rounds[:-1],
                "ratios": _ratios(rounds),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
