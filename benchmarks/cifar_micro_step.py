"""Speed of one micro-search child train step vs the fixed network of the same cells; prints JSON.

Every figure times the library's own compiled steps (`library_steps.py`), the ones `fit`
runs. Each variant runs in its own subprocess (its own trace, compile and peak RSS):
`shared_<op_selection>[_coarse][_recompute|_recompute_<none|elementwise|depthwise>]` is
the `fit` step of a `CIFARSearch` (built as `search_cifar10` builds it; weight sharing "fine",
or "coarse" with that suffix; with `_recompute`, `--child_recompute_cells`: activations
recomputed per cell; with `_recompute_<value>`, `--child_sep_conv_recompute=<value>`;
without, that flag's default "auto": "depthwise" with coarse sharing, "none" with fine; random
strategy: a fresh uniform arc drawn inside every step), and its `child_train_step` on one
arc repeated (`ms_per_step_fixed_arc`, traced after `peak_rss_mb` is read); `fixed` is the
`fit` step of the final training's `ClassifierTrainer` on that arc's fixed network, with
the search's layer count and widths (no drop-path). Both minimise CE + 0.4 aux CE +
1e-4 Σw² (the CPU flagfile's L2), clipped to global norm 5, with Nesterov SGD. The
first step (trace + graph optimisation) is reported alone, the next `--warmup` steps are
dropped, and step times are given as p10 / median / p90. The machines are shared: with
`--rounds R` the whole list of variants runs R times in turn and each ratio shared / fixed
is the median of the R ratios measured within a round.

Fresh uniform arcs differ in cost (a sep conv costs far more than a pool), so one fixed
arc is a biased reference: the arc of seed 0 has 26 sep ops in its 8 cells where a uniform
arc has 32 on average. With `--fixed_arcs K` (default 5) the fixed network of each of the
arcs of seeds 0 … K−1 runs (`fixed`, `fixed_arc1`, …), and `random_arcs_over_fixed` divides
by the mean of their medians; `random_arcs_over_fixed_arc0` keeps the ratio to the arc of
seed 0 alone, and `same_arc_over_fixed` compares the shared step on that arc with its fixed
network (like for like).

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
    "shared_switch_case_recompute",
    "shared_switch_case_coarse_recompute",
    "shared_switch_case_recompute_elementwise",
    "shared_switch_case_coarse_recompute_none",
    "shared_switch_case_coarse_recompute_elementwise",
    "shared_switch_case_recompute_depthwise",
    "shared_switch_case_coarse_recompute_depthwise",
    "shared_compute_all_coarse_recompute_depthwise",
    "fixed",
)


def _child_config(variant, cfg):
    """The `CIFARChildConfig` of a variant: the search's child settings at the given size."""
    from keras_enas.config.cifar import CIFARChildConfig

    shared = not variant.startswith("fixed")
    sep_conv_recompute = "auto"  # --child_sep_conv_recompute's default
    for suffix, value in (
        ("_recompute_none", "none"),
        ("_recompute_elementwise", "elementwise"),
        ("_recompute_depthwise", "depthwise"),
    ):
        if variant.endswith(suffix):
            sep_conv_recompute, variant = value, variant.removesuffix(suffix)
    recompute = variant.endswith("_recompute")  # --child_recompute_cells
    variant = variant.removesuffix("_recompute")
    coarse = variant.endswith("_coarse")
    op_selection = variant.removeprefix("shared_").removesuffix("_coarse") if shared else "auto"
    return CIFARChildConfig(
        num_layers=cfg["num_layers"],
        filters=cfg["filters"],
        batch_size=cfg["batch_size"],
        dropout=0.1,
        l2=1e-4,  # configs/cifar10_micro_search_cpu.flags
        op_selection=op_selection,
        weight_sharing="coarse" if coarse else "fine",
        recompute_cells=recompute,
        sep_conv_recompute=sep_conv_recompute,
    )


def _sep_ops(space, arc, num_layers):
    """Sep convs the network of `arc` runs: normal cells × theirs + 2 reduction cells × theirs."""
    import numpy as np

    ops = np.asarray(arc)[space.token_layout()["op_positions"]]  # (2, N, 2)
    per_cell = (ops < 2).reshape(2, -1).sum(axis=1)
    return int(num_layers * per_cell[0] + 2 * per_cell[1])


def run_variant(variant, cfg, steps, warmup, jit_compile, seed=0, same_arc=True):
    """Builds one model, times the library's own train steps, returns a dict.

    Shared variants: the `fit` step of a `CIFARSearch` (a fresh uniform arc drawn inside
    the step, as a random-strategy search runs) and its `child_train_step` on one arc
    repeated; `fixed`: the `fit` step of the final training's `ClassifierTrainer`.
    """
    import library_steps as lib
    import numpy as np
    import tensorflow as tf

    from keras_enas.search_spaces.micro import MicroSpace

    space = MicroSpace(cfg["num_nodes"])
    rng = np.random.default_rng(seed)
    arc = space.random_arc(rng)
    if variant.startswith("fixed_arc"):  # another arc; the same images as every variant
        arc = space.random_arc(np.random.default_rng(int(variant[len("fixed_arc") :])))
    if cfg["arc_ops"] == "sep":  # the controller at init: op logit bias [10, 10, 0, 0, 0]
        arc[space.token_layout()["op_positions"].ravel()] = rng.integers(0, 2, 4 * space.num_nodes)
    b, s = cfg["batch_size"], cfg["size"]
    x = tf.constant(rng.normal(size=(b, s, s, 3)), tf.float32)
    y = tf.constant(rng.integers(0, 10, b), tf.int32)
    child = _child_config(variant, cfg)
    start = time.perf_counter()
    fixed = variant.startswith("fixed")
    if fixed:
        model = lib.cifar_final(space, arc, child, seed, jit_compile, image_shape=(s, s, 3))
        net = model.network
    else:
        model = lib.cifar_search("micro", child, seed, jit_compile, image_size=s)
        net = model.child
    step = lib.fit_step(model)
    build_s = time.perf_counter() - start
    load = os.getloadavg()[0]
    first_s = lib.timed(step, [(x, y)])[0]
    result = {"load_avg_1m_at_start": load, "build_s": build_s, "first_step_s": first_s}
    lib.timed(step, [(x, y)] * warmup)  # warm-up steps, dropped
    times = {"fixed" if fixed else "random_arcs": lib.timed(step, [(x, y)] * steps)}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the fit step's
    if not fixed and same_arc:  # one arc repeated: the search's child step
        arc_fn, arc_t = lib.arc_step(model), tf.constant(arc)
        result["first_step_s_same_arc"] = lib.timed(arc_fn, [(x, y, arc_t)])[0]
        lib.timed(arc_fn, [(x, y, arc_t)] * warmup)
        times["same_arc"] = lib.timed(arc_fn, [(x, y, arc_t)] * steps)
    for mode, mode_times in times.items():
        mode = "fixed_arc" if mode in ("fixed", "same_arc") else mode
        result[f"ms_per_step_{mode}"] = lib.percentiles(mode_times)
        result[f"images_per_s_{mode}"] = b / float(np.median(mode_times))
    result.update(
        traces=len(step.traces),
        arc=space.format_arc(arc),
        sep_ops=_sep_ops(space, arc, cfg["num_layers"]),
        num_parameters=lib.num_parameters(net),
        sep_conv_recompute=None if fixed else net.cells[0].sep_conv_recompute,  # as resolved
        peak_rss_mb=peak_rss_mb,
        peak_rss_mb_with_same_arc_step=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return result


def _ratios(rounds):
    """Per shared variant: the median over rounds of its step / the fixed step(s) of that round.

    `random_arcs_over_fixed`: over the mean of the fixed networks' medians (every
    `fixed*` variant of the round); `..._arc0`: over the fixed network of seed 0's arc;
    `same_arc_over_fixed`: the shared step on seed 0's arc over that arc's fixed network.
    """
    import numpy as np

    per_round = {}
    for results in rounds:
        fixed = {
            name: r["ms_per_step_fixed_arc"]["median"]
            for name, r in results.items()
            if name.startswith("fixed") and "ms_per_step_fixed_arc" in r
        }
        if "fixed" not in fixed:
            continue
        base, base0 = float(np.mean(list(fixed.values()))), fixed["fixed"]
        for name, r in results.items():
            if not name.startswith("fixed") and "ms_per_step_random_arcs" in r:
                entry = per_round.setdefault(name, {"random": [], "random0": [], "same": []})
                entry["random"].append(r["ms_per_step_random_arcs"]["median"] / base)
                entry["random0"].append(r["ms_per_step_random_arcs"]["median"] / base0)
                if "ms_per_step_fixed_arc" in r:
                    entry["same"].append(r["ms_per_step_fixed_arc"]["median"] / base0)
    return {
        name: {
            "random_arcs_over_fixed": float(np.median(e["random"])),
            "random_arcs_over_fixed_arc0": float(np.median(e["random0"])),
            "same_arc_over_fixed": float(np.median(e["same"])) if e["same"] else None,
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
    parser.add_argument(
        "--no_same_arc",
        action="store_true",
        help="Skip timing the shared child step on one arc repeated (saves its trace).",
    )
    parser.add_argument(
        "--fixed_arcs",
        type=int,
        default=5,
        help="Fixed networks timed (arcs of seeds 0 … K−1) when `fixed` is among the variants.",
    )
    parser.add_argument("--timeout", type=float, default=900, help="Seconds per variant.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cfg = {
        k: getattr(args, k)
        for k in ("batch_size", "size", "num_layers", "filters", "num_nodes", "arc_ops")
    }
    if args.worker:
        print(
            json.dumps(
                run_variant(
                    args.worker,
                    cfg,
                    args.steps,
                    args.warmup,
                    args.jit_compile,
                    same_arc=not args.no_same_arc,
                )
            )
        )
        return
    variants = [v for v in args.variants.split(",") if v]
    if (
        set(variants) - set(VARIANTS)
        or min(args.steps, args.rounds, args.fixed_arcs) < 1
        or args.warmup < 0
    ):
        parser.error(
            f"--variants must be among {VARIANTS}, --steps, --rounds and --fixed_arcs >= 1, "
            "--warmup >= 0."
        )
    if "fixed" in variants:  # the other fixed arcs right after the first
        at = variants.index("fixed") + 1
        variants[at:at] = [f"fixed_arc{k}" for k in range(1, args.fixed_arcs)]
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
