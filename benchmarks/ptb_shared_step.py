"""Speed and memory of one shared-weight PTB child train step; prints one JSON object.

Each size runs in its own subprocess so that its peak RSS is its own.

    python benchmarks/ptb_shared_step.py --sizes small,paper --steps 10
    python benchmarks/ptb_shared_step.py --sizes paper,paper_per_input --steps 3
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from machine_info import machine

SIZES = {  # enas_lm search (small) and the paper's child (ENAS §3.1, reference §4.2)
    "small": dict(hidden_size=200, num_nodes=8, batch_size=64, bptt=35, vocab_size=10000),
    "paper": dict(hidden_size=1000, num_nodes=12, batch_size=64, bptt=35, vocab_size=10000),
}
# The same sizes with one matrix per (node, input node) instead of per (node, input, activation)
# (--child_share_by_activation=false: the paper's and ENAS-pytorch's sharing).
SIZES.update(
    {f"{name}_per_input": dict(cfg, share_by_activation=False) for name, cfg in list(SIZES.items())}
)
STEP_NOTE = (
    "One tf.function: SharedRNNLM.cross_entropy (dropouts on) + 1e-7 * l2_penalty, "
    "tape.gradient, clip_by_global_norm(0.25), SGD.apply (sparse on the banks); random "
    "enas_lm arc per step vs one fixed arc, alternating; random tokens."
)
FLOPS_NOTE = (
    "Analytic, matmuls only: forward = 2BT·H·2H (node 0 x-part) + 2BT·N·H·2H (the N "
    "recurrent node matmuls) + 2BT·H·V (tied softmax); a train step counts 3x forward "
    "(forward, backward w.r.t. activations, backward w.r.t. weights). Elementwise ops, "
    "softmax and the SGD update are not counted."
)


def step_flops(hidden_size, num_nodes, batch_size, bptt, vocab_size, share_by_activation=True):
    del share_by_activation  # the same matmuls either way
    tokens = batch_size * bptt
    forward = 2 * tokens * hidden_size * 2 * hidden_size * (1 + num_nodes)
    forward += 2 * tokens * hidden_size * vocab_size
    return 3 * forward


def _time_steps(step, batches, arcs, state, steps):
    """Runs `steps` train steps, alternating a random arc and the fixed arc `arcs[0]`.

    Alternating keeps the random/fixed ratio fair when other jobs load the machine.
    Returns `{"random": [...], "fixed": [...]}` wall seconds and process CPU seconds.
    """
    times = {"random": [], "fixed": [], "cpu": []}
    for i in range(2 * steps):
        kind = "fixed" if i % 2 else "random"
        x, y = batches[i % len(batches)]
        arc = arcs[0] if kind == "fixed" else arcs[1 + i // 2]
        start, cpu = time.perf_counter(), time.process_time()
        loss, state = step(x, y, state, arc)
        loss.numpy()
        times[kind].append(time.perf_counter() - start)
        times["cpu"].append(time.process_time() - cpu)
    return times


def run_size(name, steps, jit_compile, seed=0):
    """Builds one size, times random-arc and fixed-arc train steps, returns a dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_enas.models import SharedRNNLM
    from keras_enas.search_spaces import rnn

    cfg = SIZES[name]
    space = rnn.RNNCellSpace(cfg["num_nodes"], "enas_lm")
    build_start = time.perf_counter()
    child = SharedRNNLM(
        space,
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["hidden_size"],
        share_by_activation=cfg.get("share_by_activation", True),
        seed=seed,
    )
    optimizer = keras.optimizers.SGD(1.0)
    optimizer.build(child.trainable_variables)
    build_s = time.perf_counter() - build_start
    traces, grad_types = [], {}

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y, state, arc):
        traces.append(1)  # Python side effect: runs once per trace
        with tf.GradientTape() as tape:
            loss, new_state = child.cross_entropy(x, y, state, arc, training=True)
            objective = loss + 1e-7 * child.l2_penalty(arc)
        grads = tape.gradient(objective, child.trainable_variables)
        grad_types.update(
            {v.path: type(g).__name__ for v, g in zip(child.trainable_variables, grads)}
        )
        grads, _ = tf.clip_by_global_norm(grads, 0.25)
        optimizer.apply(grads, child.trainable_variables)
        return loss, new_state

    rng = np.random.default_rng(seed)
    b, t, v = cfg["batch_size"], cfg["bptt"], cfg["vocab_size"]
    batches = [
        (
            tf.constant(rng.integers(0, v, (b, t)), tf.int32),
            tf.constant(rng.integers(0, v, (b, t)), tf.int32),
        )
        for _ in range(4)
    ]
    arcs = [tf.constant(space.random_arc(rng)) for _ in range(steps + 2)]
    state = child.initial_state(b)
    first_start = time.perf_counter()
    train_step(*batches[0], state, arcs[-1])[0].numpy()  # trace (+ compile)
    first_s = time.perf_counter() - first_start
    times = _time_steps(train_step, batches, arcs, state, steps)
    flops = step_flops(**cfg)
    median = float(np.median(times["random"]))
    fixed = float(np.median(times["fixed"]))
    return {
        "config": cfg,
        "ms_per_step_random_arc": {"median": 1e3 * median, "min": 1e3 * min(times["random"])},
        "ms_per_step_fixed_arc": {"median": 1e3 * fixed, "min": 1e3 * min(times["fixed"])},
        "random_over_fixed_ratio": median / fixed,
        "cpu_s_per_step_median": float(np.median(times["cpu"])),
        "tokens_per_s": b * t / median,
        "gflop_per_step": flops / 1e9,
        "gflop_per_s": flops / median / 1e9,
        "gflop_per_s_best": flops / min(times["random"]) / 1e9,
        "traces": len(traces),
        "first_step_s": first_s,
        "build_s": build_s,
        "num_parameters": int(sum(np.prod(w.shape) for w in child.trainable_variables)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "gradient_types": grad_types,
        "load_avg_1m_after": os.getloadavg()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small", help=f"Comma-separated, among {sorted(SIZES)}.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per arc mode.")
    parser.add_argument("--jit_compile", action="store_true", help="XLA-compile the step.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_size(args.worker, args.steps, args.jit_compile)))
        return
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = set(sizes) - set(SIZES)
    if unknown or args.steps < 1:
        parser.error(f"--sizes must be among {sorted(SIZES)} and --steps >= 1.")
    results = {}
    for size in sizes:
        cmd = [sys.executable, __file__, "--worker", size, "--steps", str(args.steps)]
        cmd += ["--jit_compile"] if args.jit_compile else []
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH", "")]
        )
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        results[size] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "benchmark": "ptb_shared_step",
                "machine": machine(),
                "jit_compile": args.jit_compile,
                "step": STEP_NOTE,
                "flops_note": FLOPS_NOTE,
                "sizes": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
