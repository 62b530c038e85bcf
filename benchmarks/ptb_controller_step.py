"""Speed of one controller update in the PTB search; prints one JSON object.

A controller sample = sample an arc + reward it on one validation minibatch (a child
forward pass, no dropout) + accumulate the REINFORCE gradient (ENAS §2.2). An update
= `num_aggregate` samples + one Adam step. Both are the library's own compiled steps, the
ones `ENASSearch.controller_phase` runs (`step_functions()`). Measured at the small size of
`ptb_shared_step.py` (hidden = embedding = 200, 8 nodes, batch 64 x BPTT 35).

    python benchmarks/ptb_controller_step.py --samples 50
"""

import argparse
import json
import os
import resource
import sys
import time

from machine_info import machine

SMALL = dict(hidden_size=200, num_nodes=8, batch_size=64, bptt=35, vocab_size=10000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50, help="Timed controller samples.")
    parser.add_argument(
        "--num_aggregate", type=int, default=10, help="Samples averaged per Adam update."
    )
    parser.add_argument(
        "--reward_batch_size",
        type=int,
        default=64,
        help="Rows of the validation minibatch a reward is computed on "
        "(original ptb_search.sh: 20; enas_lm: the eval batch).",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from keras_enas import config as config_lib
    from keras_enas.tasks.ptb import search as run_ptb

    size = SMALL
    child = config_lib.RNNChildConfig(
        num_nodes=size["num_nodes"],
        hidden_size=size["hidden_size"],
        batch_size=size["batch_size"],
        eval_batch_size=args.reward_batch_size,
        bptt=size["bptt"],
    )
    controller = config_lib.ControllerConfig(num_aggregate=args.num_aggregate)
    config = config_lib.PTBSearchConfig(child=child, controller=controller)
    rng = np.random.default_rng(0)
    shape = (8, args.reward_batch_size, size["bptt"])
    reward_batches = (
        rng.integers(0, size["vocab_size"], shape, dtype=np.int32),
        rng.integers(0, size["vocab_size"], shape, dtype=np.int32),
    )
    search = run_ptb.build_ptb_search(config, size["vocab_size"], reward_batches)
    fns = search.step_functions()  # the compiled steps controller_phase runs
    accumulate, apply = fns["accumulate"], fns["apply"]
    start = time.perf_counter()
    accumulate()
    apply()
    compile_seconds = time.perf_counter() - start
    sample_times, apply_times = [], []
    for i in range(args.samples):
        start = time.perf_counter()
        stats, _ = accumulate()
        float(stats["reward"])
        sample_times.append(time.perf_counter() - start)
        if (i + 1) % args.num_aggregate == 0:
            start = time.perf_counter()
            apply()
            search.controller.trainable_variables[0].numpy()
            apply_times.append(time.perf_counter() - start)
    sample_ms = 1000 * float(np.median(sample_times))
    apply_ms = 1000 * float(np.median(apply_times)) if apply_times else 0.0
    print(
        json.dumps(
            {
                "benchmark": "ptb_controller_step",
                "size": size,
                "reward_batch": [args.reward_batch_size, size["bptt"]],
                "num_aggregate": args.num_aggregate,
                "ms_per_controller_sample": round(sample_ms, 2),
                "ms_per_adam_apply": round(apply_ms, 2),
                "ms_per_controller_update_per_sample": round(
                    sample_ms + apply_ms / args.num_aggregate, 2
                ),
                "ms_per_aggregated_update": round(args.num_aggregate * sample_ms + apply_ms, 2),
                "first_call_seconds": round(compile_seconds, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "note": "A sample = controller.sample() + child forward on one validation minibatch "
                "(reward c/ppl) + REINFORCE gradient accumulation: the search's own compiled "
                "accumulate step (step_functions()); median over the timed samples.",
                "machine": machine(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
