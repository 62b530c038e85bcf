"""Where one CIFAR search step spends its time: TensorFlow profiler, self time per op type; JSON.

Builds the variant as `cifar_micro_step.py` / `cifar_macro_step.py` do (the library's own
`fit` steps: a `CIFARSearch` drawing a fresh uniform arc inside every step, or the final
training's fixed network of one arc), runs the first step and `--warmup` more untraced,
then records `--steps` steps with `tf.profiler.experimental` and sums, per TensorFlow op
type, the self time of its host events (an event's time minus that of the events nested
in it on the same thread: a `Case` op's own cost excludes the branch it runs; a kernel's
`ParallelFor` shards count as the kernel's). Threads
run in parallel, so the per-type sums add up to more than the wall time.

    python benchmarks/profile_step.py --space micro --variant shared_switch_case_coarse
    python benchmarks/profile_step.py --space micro --variant fixed --top 30
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time

from machine_info import machine


def _add_line(events, by_name, totals):
    """Adds one thread's events `(start, end, name)` to `totals` as self times."""
    stack = []  # open events: [end, name, time of nested events, start]

    def close(until):
        while stack and stack[-1][0] <= until:
            end, name, child, start = stack.pop()
            kind = name.rsplit(":", 1)[-1] if ":" in name else name
            if kind in by_name:
                kind = f"{kind}@{name.rsplit(':', 1)[0]}"
            if name == "ParallelFor" and stack:  # a kernel's worker: its op's time
                stack[-1][2] += child
                continue
            totals[kind][0] += (end - start - child) * 1e-12
            totals[kind][1] += 1
            if stack:
                stack[-1][2] += end - start

    for start, end, name in sorted(events, key=lambda e: (e[0], -e[1])):
        close(start)
        stack.append([end, name, 0, start])
    close(float("inf"))


def _self_times(xspace_path, by_name=()):
    """`{op type: [self seconds, count]}` from one `.xplane.pb`.

    Op types in `by_name` are split by op name instead (`type@name`), to see which of
    them cost.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xspace_path, "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.defaultdict(lambda: [0.0, 0])
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: m.name for k, m in plane.event_metadata.items()}
        for line in plane.lines:
            events = [
                (e.offset_ps, e.offset_ps + e.duration_ps, names.get(e.metadata_id, "?"))
                for e in line.events
            ]
            _add_line(events, by_name, totals)
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="micro", choices=("micro", "macro"), help="Space.")
    parser.add_argument(
        "--variant",
        default="shared_switch_case",
        help="A variant of cifar_<space>_step.py: shared_<op_selection>[_coarse] or fixed.",
    )
    parser.add_argument("--steps", type=int, default=5, help="Steps recorded by the profiler.")
    parser.add_argument("--warmup", type=int, default=3, help="Untraced steps after the first.")
    parser.add_argument("--top", type=int, default=25, help="Op types listed, by self time.")
    parser.add_argument("--num_layers", type=int, default=None, help="L (default: the search's).")
    parser.add_argument(
        "--by_name", default="", help="Comma-separated op types to split by op name."
    )
    parser.add_argument(
        "--same_arc",
        action="store_true",
        help="Shared variants: profile the search's child step on the fixed variant's arc.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the fixed arc and data.")
    args = parser.parse_args()

    import library_steps as lib
    import numpy as np
    import tensorflow as tf

    from keras_enas.config.cifar import CIFARChildConfig
    from keras_enas.search_spaces.macro import MacroSpace
    from keras_enas.search_spaces.micro import MicroSpace

    micro = args.space == "micro"  # the search's default sizes, the CPU flagfiles' L2
    cfg = dict(batch_size=32, size=32, num_layers=args.num_layers or (6 if micro else 12))
    cfg["filters"] = 20 if micro else 36
    space = MicroSpace(5) if micro else MacroSpace(cfg["num_layers"])
    shared = args.variant != "fixed"
    coarse = args.variant.endswith("_coarse")
    child = CIFARChildConfig(
        num_layers=cfg["num_layers"],
        filters=cfg["filters"],
        batch_size=cfg["batch_size"],
        dropout=0.1,
        l2=1e-4 if micro else 2.5e-4,
        op_selection=args.variant[7 : len(args.variant) - 7 * coarse] if shared else "auto",
        weight_sharing="coarse" if coarse else "fine",
    )
    rng = np.random.default_rng(args.seed)
    arc = space.random_arc(rng)
    b, s = cfg["batch_size"], cfg["size"]
    x = tf.constant(rng.normal(size=(b, s, s, 3)), tf.float32)
    y = tf.constant(rng.integers(0, 10, b), tf.int32)
    if args.variant == "fixed":
        options = {"widen_factor": 1} if args.space == "macro" else {}
        model = lib.cifar_final(space, arc, child, args.seed, image_shape=(s, s, 3), **options)
    else:
        model = lib.cifar_search(args.space, child, args.seed, image_size=s)
    if args.same_arc and args.variant != "fixed":
        step, batch = lib.arc_step(model), (x, y, tf.constant(arc))
    else:
        step, batch = lib.fit_step(model), (x, y)
    first_s = lib.timed(step, [batch])[0]
    lib.timed(step, [batch] * args.warmup)
    logdir = tempfile.mkdtemp(prefix="keras_enas_profile_")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    lib.timed(step, [batch] * args.steps)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    (path,) = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    totals = _self_times(path, set(filter(None, args.by_name.split(","))))
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])
    print(
        json.dumps(
            {
                "benchmark": "profile_step",
                "machine": machine(),
                "space": args.space,
                "variant": args.variant,
                "arc": space.format_arc(arc) if args.same_arc or args.variant == "fixed" else None,
                "config": cfg,
                "first_step_s": round(first_s, 2),
                "ms_per_step_wall": round(1e3 * wall / args.steps, 1),
                "self_ms_per_step": {
                    k: {"ms": round(1e3 * t / args.steps, 2), "calls": n // args.steps}
                    for k, (t, n) in ranked[: args.top]
                },
                "self_ms_per_step_all_types": round(
                    1e3 * sum(t for t, _ in totals.values()) / args.steps, 1
                ),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
