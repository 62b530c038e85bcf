"""Speed and memory of one shared-weight PTB child train step; prints one JSON object.

Each size runs in its own subprocess so that its peak RSS is its own.

    python benchmarks/ptb_shared_step.py --sizes small,paper --steps 10
    python benchmarks/ptb_shared_step.py --sizes paper,paper_per_input --steps 3
    python benchmarks/ptb_shared_step.py --sizes paper_per_input --steps 3 --pin_mmap_threshold

`--pin_mmap_threshold` pins glibc's mmap threshold in the worker, as the programs' flag of
that name does (`keras_enas/run/malloc.py`): less peak RSS for a slower step.
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
    "tiny": dict(hidden_size=16, num_nodes=3, batch_size=4, bptt=5, vocab_size=100),  # smoke
    "small": dict(hidden_size=200, num_nodes=8, batch_size=64, bptt=35, vocab_size=10000),
    "paper": dict(hidden_size=1000, num_nodes=12, batch_size=64, bptt=35, vocab_size=10000),
}
# The same sizes with one matrix per (node, input node) instead of per (node, input, activation)
# (--child_share_by_activation=false: the paper's and ENAS-pytorch's sharing).
SIZES.update(
    {f"{name}_per_input": dict(cfg, share_by_activation=False) for name, cfg in list(SIZES.items())}
)
STEP_NOTE = (
    "The library's own compiled steps (library_steps.py): a PTBSearch built as search_ptb "
    "builds it (enas_lm arcs, the search's dropouts, L2 and clip 0.25, SGD; random strategy): "
    "its fit step (a fresh uniform arc drawn inside the step, the state carried) and its "
    "child_train_step on one arc; random tokens. Peak RSS is read after the fit steps, before "
    "the child_train_step is traced; then both alternate for the ratio."
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


def run_size(name, steps, jit_compile, seed=0):
    """Builds one size, times the search's fit step and its one-arc step, returns a dict."""
    import library_steps as lib
    import numpy as np
    import tensorflow as tf

    from keras_enas.config.ptb import RNNChildConfig

    cfg = SIZES[name]
    b, t, v = cfg["batch_size"], cfg["bptt"], cfg["vocab_size"]
    child = RNNChildConfig(
        num_nodes=cfg["num_nodes"],
        arc_format="enas_lm",
        hidden_size=cfg["hidden_size"],
        share_by_activation=cfg.get("share_by_activation", True),
        batch_size=b,
        bptt=t,
        eval_batch_size=b,
    )
    build_start = time.perf_counter()
    search = lib.ptb_search(child, vocab_size=v, seed=seed, jit_compile=jit_compile)
    step = lib.fit_step(search)
    build_s = time.perf_counter() - build_start
    rng = np.random.default_rng(seed)
    batches = [
        tuple(tf.constant(rng.integers(0, v, (b, t)), tf.int32) for _ in range(2)) for _ in range(4)
    ]
    first_s = lib.timed(step, batches[:1])[0]  # trace (+ compile)
    lib.timed(step, batches[1:3])  # warm-up, dropped
    random_times = lib.timed(step, [batches[i % 4] for i in range(steps)])
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    arc = tf.constant(search.space.random_arc(rng))
    same_arc = lib.arc_step(search)
    lib.timed(same_arc, [(*batches[0], arc)] * 2)  # trace, warm-up
    times = {"random": [], "fixed": []}
    for i in range(2 * steps):  # alternating, so that load changes hit both alike
        kind = "fixed" if i % 2 else "random"
        args = (*batches[i % 4], arc) if kind == "fixed" else batches[i % 4]
        times[kind] += lib.timed(same_arc if kind == "fixed" else step, [args])
    flops = step_flops(**cfg)
    median = float(np.median(random_times))
    return {
        "config": cfg,
        "ms_per_step_random_arc": lib.percentiles(random_times),
        "ms_per_step_random_arc_alternating": lib.percentiles(times["random"]),
        "ms_per_step_fixed_arc": lib.percentiles(times["fixed"]),
        "random_over_fixed_ratio": float(np.median(times["random"]) / np.median(times["fixed"])),
        "tokens_per_s": b * t / median,
        "gflop_per_step": flops / 1e9,
        "gflop_per_s": flops / median / 1e9,
        "gflop_per_s_best": flops / min(random_times) / 1e9,
        "traces": len(step.traces),
        "first_step_s": first_s,
        "build_s": build_s,
        "num_parameters": lib.num_parameters(search.child),
        "peak_rss_mb": peak_rss_mb,
        "peak_rss_mb_with_same_arc_step": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg_1m_after": os.getloadavg()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small", help=f"Comma-separated, among {sorted(SIZES)}.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per arc mode.")
    parser.add_argument("--jit_compile", action="store_true", help="XLA-compile the step.")
    parser.add_argument(
        "--pin_mmap_threshold",
        action="store_true",
        help="Pin glibc's mmap threshold, as the programs' --pin_mmap_threshold does.",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        from keras_enas.run import malloc

        pinned = malloc.pin_mmap_threshold() if args.pin_mmap_threshold else False
        result = run_size(args.worker, args.steps, args.jit_compile)
        print(json.dumps(dict(result, mmap_threshold_pinned=pinned)))
        return
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = set(sizes) - set(SIZES)
    if unknown or args.steps < 1:
        parser.error(f"--sizes must be among {sorted(SIZES)} and --steps >= 1.")
    results = {}
    for size in sizes:
        cmd = [sys.executable, __file__, "--worker", size, "--steps", str(args.steps)]
        cmd += ["--jit_compile"] if args.jit_compile else []
        cmd += ["--pin_mmap_threshold"] if args.pin_mmap_threshold else []
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
