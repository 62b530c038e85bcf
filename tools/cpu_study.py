#!/usr/bin/env python3
"""The CPU study (issue 12, part 7): ENAS against random search with weight sharing on PTB.

Runs, in `--out` (every step resumes or is skipped when its result exists, so the study can
be stopped and re-run):

1. `search_ptb --flagfile=configs/cpu_study_search.flags` for each strategy (enas, random) and
   seed: `<out>/search_<strategy>_s<seed>/`.
2. `train_ptb --flagfile=configs/cpu_study_final.flags` on each search's derived cell (the same
   small budget for all): `<out>/final_<strategy>_s<seed>/final_results.json`.
3. `rank_correlation --flagfile=configs/cpu_study_rank.flags` on the first ENAS search:
   `<out>/rank_enas_s<seed>/ranking.json` (Kendall tau of shared-weight scores against
   training from scratch, K = --num_arcs).
4. `search_report` on every search, then `<out>/study.json` and `<out>/study.md`: test
   perplexity mean ± sd per strategy, controller entropy first → last epoch, tau.

Example (the whole study, 2 jobs at a time):
    python tools/cpu_study.py --data_dir=../shared/data/ptb --out=runs/cpu_study --parallel=2

`--seeds=0 --strategies=enas` etc. run a subset; `--summary_only` only rewrites the summary.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(name, argv, out, done_file, is_done=os.path.exists):
    """Runs one bin/ program unless `is_done(done_file)`; its output goes to `<out>/<name>.log`."""
    if is_done(done_file):
        return name, "skipped (done)", 0.0
    start = time.time()
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    with open(os.path.join(out, f"{name}.log"), "a") as log:
        code = subprocess.call(
            [sys.executable, os.path.join(ROOT, "bin", argv[0]), *argv[1:]],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    status = "ok" if code == 0 and is_done(done_file) else f"failed (exit {code})"
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {status}", flush=True)
    return name, status, time.time() - start


def _search_and_train(args, strategy, seed):
    """Search, then retrain its derived cell; returns the two job results."""
    s = os.path.join(args.out, f"search_{strategy}_s{seed}")
    f = os.path.join(args.out, f"final_{strategy}_s{seed}")
    common = [f"--data_dir={args.data_dir}"]
    search = _run(
        f"search_{strategy}_s{seed}",
        ["search_ptb", "--flagfile=configs/cpu_study_search.flags", *common]
        + [f"--search_strategy={strategy}", f"--seed={seed}", f"--workdir={s}"],
        args.out,
        os.path.join(s, "best_architecture.json"),
    )
    final = _run(
        f"final_{strategy}_s{seed}",
        ["train_ptb", "--flagfile=configs/cpu_study_final.flags", *common]
        + [f"--arc_file={s}/best_architecture.json", f"--seed={seed}", f"--workdir={f}"],
        args.out,
        os.path.join(f, "final_results.json"),
    )
    return [search, final]


def _rank(args):
    seed = args.seeds[0]
    s = os.path.join(args.out, f"search_enas_s{seed}")
    r = os.path.join(args.out, f"rank_enas_s{seed}")
    return [
        _run(
            f"rank_enas_s{seed}",
            ["rank_correlation", "--flagfile=configs/cpu_study_rank.flags"]
            + [f"--num_arcs={args.num_arcs}", f"--data_dir={args.data_dir}"]
            + [f"--search_workdir={s}", f"--workdir={r}"],
            args.out,
            os.path.join(r, "ranking.json"),
            _ranking_complete,
        )
    ]


def _ranking_complete(path):
    """rank_correlation rewrites `ranking.json` after every arc, marked `"partial": true`
    until the last: only a ranking without that mark is done."""
    ranking = _read_json(path)
    return bool(ranking) and not ranking.get("partial")


def _read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _log(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _activation_max_p(search_dir):
    """Mean over the cell's activation decisions of the most likely activation's
    probability, first and last logged epoch (0.25 = uniform over 4)."""
    sys.path.insert(0, ROOT)
    from keras_enas.report import data as report_data

    try:
        run = report_data.read_run(search_dir)
    except FileNotFoundError:
        return None, None
    records = run.marginal_epochs()
    if not records:
        return None, None
    out = []
    for record in (records[0], records[-1]):
        groups = report_data.marginal_groups(run, record)
        matrix = groups.get("ops rnn_activation", (None, None))[1]
        out.append(None if matrix is None else float(matrix.max(axis=1).mean()))
    return tuple(out)


def summarize(args):
    """Collects every finished run into `study.json` and `study.md`; returns the dict."""
    runs, per_strategy = [], {}
    for strategy in args.strategies:
        for seed in args.seeds:
            s = os.path.join(args.out, f"search_{strategy}_s{seed}")
            final = _read_json(
                os.path.join(args.out, f"final_{strategy}_s{seed}", "final_results.json")
            )
            best = _read_json(os.path.join(s, "best_architecture.json")) or {}
            log = _log(os.path.join(s, "log.jsonl"))
            first_p, last_p = _activation_max_p(s)
            run = {
                "activation_max_p_first": first_p,
                "activation_max_p_last": last_p,
                "strategy": strategy,
                "seed": seed,
                "fixed_arc": best.get("fixed_arc"),
                "entropy_first": log[0].get("controller_entropy") if log else None,
                "entropy_last": log[-1].get("controller_entropy") if log else None,
                "search_val_ppl_last": log[-1].get("val_ppl") if log else None,
                "final_valid_ppl": final and final.get("final_valid_ppl"),
                "final_test_ppl": final and final.get("final_test_ppl"),
            }
            runs.append(run)
            if run["final_test_ppl"] is not None:
                per_strategy.setdefault(strategy, []).append(run["final_test_ppl"])
    table = {
        k: {
            "n": len(v),
            "mean": statistics.mean(v),
            "sd": statistics.stdev(v) if len(v) > 1 else None,
        }
        for k, v in per_strategy.items()
    }
    ranking = _ranking(os.path.join(args.out, f"rank_enas_s{args.seeds[0]}"))
    study = {
        "runs": runs,
        "final_test_ppl": table,
        "kendall_tau": ranking and ranking.get("kendall_tau"),
        "spearman_rho": ranking and ranking.get("spearman_rho"),
        "num_arcs_ranked": ranking and len(ranking.get("pairs", [])),
        "ranking_partial": bool(ranking and ranking.get("partial")),
    }
    with open(os.path.join(args.out, "study.json"), "w") as f:
        json.dump(study, f, indent=2)
    with open(os.path.join(args.out, "study.md"), "w") as f:
        f.write(_markdown(study))
    return study


def _ranking(rank_dir):
    """`ranking.json`, or, while the study is unfinished, the coefficients of the arcs
    trained so far (`arcs.jsonl`), marked `"partial": true`."""
    ranking = _read_json(os.path.join(rank_dir, "ranking.json"))
    if ranking and "kendall_tau" in ranking:
        return ranking
    path = os.path.join(rank_dir, "arcs.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    if len(pairs) < 3:
        return None
    sys.path.insert(0, ROOT)
    from keras_enas import rank_stats

    stats = rank_stats.rank_correlations(
        [p["shared_valid_ppl"] for p in pairs], [p["final_valid_ppl"] for p in pairs], 2000
    )
    return {**stats, "pairs": pairs, "partial": True}


def _fmt(x, spec=".1f"):
    return "–" if x is None else format(x, spec)


def _markdown(study):
    lines = [
        "| strategy | seed | entropy first → last epoch | activation max p first → last "
        "| derived cell: test ppl (valid) |",
        "|---|---|---|---|---|",
    ]
    for r in study["runs"]:
        lines.append(
            f"| {r['strategy']} | {r['seed']} | {_fmt(r['entropy_first'], '.2f')} → "
            f"{_fmt(r['entropy_last'], '.2f')} | {_fmt(r['activation_max_p_first'], '.2f')} → "
            f"{_fmt(r['activation_max_p_last'], '.2f')} | {_fmt(r['final_test_ppl'])} "
            f"({_fmt(r['final_valid_ppl'])}) |"
        )
    lines += ["", "| strategy | runs | test ppl mean ± sd |", "|---|---|---|"]
    for k, v in study["final_test_ppl"].items():
        lines.append(f"| {k} | {v['n']} | {v['mean']:.1f} ± {_fmt(v['sd'])} |")
    tau, rho = study["kendall_tau"], study["spearman_rho"]
    if tau:
        lines += [
            "",
            f"Kendall τ = {tau['value']:.2f} [{tau['low']:.2f}, {tau['high']:.2f}], "
            f"Spearman ρ = {rho['value']:.2f} [{rho['low']:.2f}, {rho['high']:.2f}] "
            f"(K = {study['num_arcs_ranked']} arcs, bootstrap 95% intervals"
            + ("; PARTIAL: the arcs trained so far)" if study["ranking_partial"] else ")"),
        ]
    return "\n".join(lines) + "\n"


def _reports(args):
    for strategy in args.strategies:
        for seed in args.seeds:
            s = os.path.join(args.out, f"search_{strategy}_s{seed}")
            if os.path.exists(os.path.join(s, "best_architecture.json")) and os.path.exists(
                os.path.join(ROOT, "bin", "search_report")
            ):
                _run(
                    f"report_{strategy}_s{seed}",
                    ["search_report", f"--workdir={s}"],
                    args.out,
                    os.path.join(s, "report.md"),
                )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="../shared/data/ptb", help="PTB directory.")
    p.add_argument("--out", default="runs/cpu_study", help="Directory of the whole study.")
    p.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds of the searches.")
    p.add_argument("--strategies", default="enas,random", help="Comma-separated strategies.")
    p.add_argument("--num_arcs", type=int, default=12, help="Arcs K of the rank correlation.")
    p.add_argument("--parallel", type=int, default=1, help="Programs run at the same time.")
    p.add_argument("--no_rank", action="store_true", help="Skip the rank correlation.")
    p.add_argument(
        "--summary_only",
        action="store_true",
        help="Run no search or training: only the reports and study.json/md.",
    )
    args = p.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.strategies = args.strategies.split(",")
    args.out = os.path.abspath(args.out)
    args.data_dir = os.path.abspath(args.data_dir)
    os.makedirs(args.out, exist_ok=True)
    if not args.summary_only:
        _execute(args)
    _reports(args)
    study = summarize(args)
    print(_markdown(study))


def _execute(args):
    """The searches and trainings, `--parallel` at a time; the ranking follows ENAS seed 0's
    search and training in the same worker (it is the longest chain)."""

    def chain(strategy, seed):
        jobs = _search_and_train(args, strategy, seed)
        if not args.no_rank and (strategy, seed) == ("enas", args.seeds[0]):
            jobs += _rank(args)
        return jobs

    pairs = [(st, sd) for sd in args.seeds for st in args.strategies]
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        for f in concurrent.futures.as_completed([pool.submit(chain, *p) for p in pairs]):
            for name, status, secs in f.result():
                print(f"{name}: {status} in {secs:.0f} s", flush=True)


if __name__ == "__main__":
    main()
