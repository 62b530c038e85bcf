"""Speed of one micro-search child train step vs the fixed network of the same cells; prints JSON.

Each variant runs in its own subprocess (its own trace, compile and peak RSS):
`shared_<op_selection>` is a `SharedMicroCNN` step on a fresh uniform arc every step,
and on one arc repeated; `fixed` is `build_fixed_micro_cnn` of that same arc with the
search's layer count and widths (no drop-path), trained with the same loss (CE +
0.4 aux CE) and optimizer. Ratios shared / fixed are per `jit_compile` setting.

    python benchmarks/cifar_micro_step.py --variants shared_compute_all,fixed --steps 5
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

VARIANTS = ("shared_compute_all", "shared_switch_case", "fixed")


def _build(variant, cfg, space, arc):
    from keras_enas.models.fixed_micro import build_fixed_micro_cnn
    from keras_enas.models.shared_micro import SharedMicroCNN

    if variant == "fixed":
        model = build_fixed_micro_cnn(space, arc, num_layers=cfg["num_layers"],
                                      filters=cfg["filters"], image_shape=(cfg["size"],) * 2 + (3,),
                                      dropout=0.1, drop_path_keep_prob=None, seed=0)
        return model, lambda x, arc, training: model(x, training=training)
    model = SharedMicroCNN(space, num_layers=cfg["num_layers"], filters=cfg["filters"],
                           op_selection=variant[len("shared_"):], seed=0)
    return model, model


def run_variant(variant, cfg, steps, jit_compile, seed=0):
    """Builds one model, times its train steps, returns a dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_enas.search_spaces.micro import MicroSpace

    space = MicroSpace(cfg["num_nodes"])
    rng = np.random.default_rng(seed)
    arcs = [space.random_arc(rng) for _ in range(steps + 1)]
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

    first_s = timed(arcs[:1])[0]
    result = {"build_s": build_s, "first_step_s": first_s}
    modes = {"fixed_arc": arcs[:1] * steps}
    if variant != "fixed":
        modes["random_arcs"] = arcs[1:]
    for mode, arc_list in modes.items():
        times = timed(arc_list)
        median = float(np.median(times))
        result[f"ms_per_step_{mode}"] = {"median": 1e3 * median, "min": 1e3 * min(times)}
        result[f"images_per_s_{mode}"] = b / median
    result.update(traces=len(traces), arc=space.format_arc(arcs[0].numpy()),
                  num_parameters=int(sum(np.prod(w.shape) for w in model.trainable_variables)),
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def _ratios(results):
    fixed = results.get("fixed", {})
    ratios = {}
    for name, r in results.items():
        if name != "fixed" and "ms_per_step_random_arcs" in r and "ms_per_step_fixed_arc" in fixed:
            base = fixed["ms_per_step_fixed_arc"]["median"]
            ratios[name] = {"random_arcs_over_fixed": r["ms_per_step_random_arcs"]["median"] / base,
                            "same_arc_over_fixed": r["ms_per_step_fixed_arc"]["median"] / base}
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"Among {VARIANTS}.")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps per arc mode.")
    parser.add_argument("--batch_size", type=int, default=32, help="Images per step (160 paper).")
    parser.add_argument("--size", type=int, default=32, help="Image height = width, pixels.")
    parser.add_argument("--num_layers", type=int, default=6, help="L (6 in the search).")
    parser.add_argument("--filters", type=int, default=20, help="F (20 in the search).")
    parser.add_argument("--num_nodes", type=int, default=5, help="Decided nodes per cell.")
    parser.add_argument("--arc_ops", default="uniform", choices=("uniform", "sep"),
                        help="Ops of the sampled arcs: uniform over the 5, or sep3/sep5 only.")
    parser.add_argument("--jit_compile", action="store_true", help="XLA-compile the step.")
    parser.add_argument("--timeout", type=float, default=900, help="Seconds per variant.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cfg = {k: getattr(args, k) for k in ("batch_size", "size", "num_layers", "filters",
                                         "num_nodes", "arc_ops")}
    if args.worker:
        print(json.dumps(run_variant(args.worker, cfg, args.steps, args.jit_compile)))
        return
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS) or args.steps < 1:
        parser.error(f"--variants must be among {VARIANTS} and --steps >= 1.")
    results = {}
    for variant in variants:
        cmd = [sys.executable, __file__, "--worker", variant] + sys.argv[1:]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
             env.get("PYTHONPATH", "")])
        try:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env,
                                 timeout=args.timeout)
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            results[variant] = {"error": f"timed out after {args.timeout:.0f} s"}
    print(json.dumps({"benchmark": "cifar_micro_step", "machine": machine(), "config": cfg,
                      "jit_compile": args.jit_compile, "results": results,
                      "ratios": _ratios(results)}, indent=1))


if __name__ == "__main__":
    main()
