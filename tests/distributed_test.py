"""tf.distribute: mirrored steps == one-device steps, per-replica arcs, multi-worker runs.

The mirrored checks need two logical CPU devices, which must be configured before
TensorFlow initialises its devices: they run in one subprocess (`distributed_checks.py`).
Dropout is 0 there (the replicas' masks cannot match one device's), so the comparisons
are exact up to float reordering: tolerance 1e-5 on losses and weights.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from keras_enas import distribute

REPO = pathlib.Path(__file__).resolve().parents[1]
CHECKS = (
    "ptb_search_step",
    "controller_phase",
    "cifar_search",
    "ptb_final",
    "cifar_final",
    "user_search",
    "nonfinite_guard",
    "bad_inputs",
)
TOL = 1e-5


@pytest.fixture(scope="module")
def checks():
    """Runs every check once (one subprocess, ~1-2 min on 2 cores); their results."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "distributed_checks.py"), *CHECKS],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


@pytest.mark.distributed
def test_mirrored_search_step_with_one_arc_matches_one_device(checks):
    r = checks["ptb_search_step"]
    assert r["replicas"] == 2
    # 3 steps on the same global batches (4 rows: 2 per replica, state carried per replica).
    assert r["loss_diff"] <= TOL and r["weight_diff"] <= TOL, r
    # Both replicas trained the arcs the single-device run sampled, step by step.
    assert r["one_arc_replica_arcs"] == [r["single_arcs"], r["single_arcs"]]


@pytest.mark.distributed
def test_one_arc_per_replica_differs_and_the_step_is_traced_once(checks):
    r = checks["ptb_search_step"]
    first, second = r["per_replica_arcs"]
    assert all(a != b for a, b in zip(first, second)), r["per_replica_arcs"]
    assert -1 not in sum(first + second, [])  # every step recorded an arc
    assert r["per_replica_traces"] == 2  # the step body ran once per replica: one trace


@pytest.mark.distributed
def test_controller_phase_rewards_one_arc_per_replica_and_updates_once(checks):
    r = checks["controller_phase"]
    # num_aggregate 2 over 2 replicas: one parallel round per update, 2 updates.
    assert r["samples"] == 4 and all(0 < x < 80 for x in r["rewards"])
    assert len(set(r["rewards"])) == 4  # each arc on its own minibatch
    assert r["moved"] > 0 and r["copies_diff"] == 0.0  # the mirrored copies stay equal


@pytest.mark.distributed
def test_mirrored_macro_search_steps_run_with_one_or_per_replica_arcs(checks):
    r = checks["cifar_search"]
    # Batch norm inside the sampled op uses each replica's statistics (TensorFlow cannot
    # synchronise replicas inside tf.switch_case), so the step is close to, not equal to,
    # the one-device step; both replicas train the one-device run's arcs.
    assert r["same_arcs"] and r["loss_diff"] < 0.5, r
    # One arc per replica also runs.
    assert r["per_replica_differ"] and 0 < r["per_replica_loss"] < 10


@pytest.mark.distributed
@pytest.mark.parametrize("task", ["ptb_final", "cifar_final"])
def test_final_training_under_mirrored_matches_one_device(checks, task):
    r = checks[task]
    assert r["loss_diff"] <= TOL and r["weight_diff"] <= TOL, r


@pytest.mark.distributed
def test_user_search_built_under_a_strategy_scope_fits(checks):
    r = checks["user_search"]
    assert 0 < r["loss"] < 10 and r["moved"] > 0 and r["best"]["op"] in (0, 1)


@pytest.mark.distributed
def test_a_nonfinite_step_on_one_replica_is_skipped_on_every_replica(checks):
    r = checks["nonfinite_guard"]
    # 3 steps, replica 1's loss NaN each time: each replica counts 3 skipped steps, and
    # no weight or optimizer slot moved on either replica.
    assert r["counts"] == [3, 3] and r["changed"] == 0.0, r


@pytest.mark.distributed
def test_bad_distribution_inputs_get_one_line_errors(checks):
    errors = checks["bad_inputs"]
    expected = "must be divisible by the 2 replicas of the distribution strategy"
    assert expected in errors["batch"] and "child_batch_size=5" in errors["batch"]
    assert expected in errors["search_batch"] and "child_batch_size=5" in errors["search_batch"]
    assert errors["tpu"].startswith("--distribution_strategy=tpu needs a reachable TPU")
    assert all("\n" not in e for e in errors.values())


def test_tf_config_is_checked():
    with pytest.raises(ValueError, match="environment variable is not set"):
        distribute.check_tf_config(None)
    with pytest.raises(ValueError, match="needs TF_CONFIG to be JSON"):
        distribute.check_tf_config("{cluster")
    with pytest.raises(ValueError, match="'cluster' of 'worker' addresses"):
        distribute.check_tf_config('{"task": {"type": "worker", "index": 0}}')
    cluster = '"cluster": {"worker": ["a:1", "b:2"]}'
    with pytest.raises(ValueError, match=r"'index' in \[0, 2\)"):
        distribute.check_tf_config("{" + cluster + ', "task": {"type": "worker", "index": 2}}')
    distribute.check_tf_config("{" + cluster + ', "task": {"type": "worker", "index": 1}}')


def _bin(args, env=None, **kwargs):
    env = dict(env or os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [sys.executable, str(REPO / "bin" / "search_ptb"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        **kwargs,
    )


@pytest.mark.distributed
def test_multi_worker_without_tf_config_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = _bin(
        ["--distribution_strategy=multi_worker_mirrored", f"--workdir={tmp_path / 'w'}"], env=env
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    lines = [x for x in err.splitlines() if x.startswith("search_ptb:")]
    assert lines == [
        "search_ptb: error: --distribution_strategy=multi_worker_mirrored needs TF_CONFIG: "
        'the environment variable is not set. Example: TF_CONFIG=\'{"cluster": {"worker": '
        '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
    ]
    assert not (tmp_path / "w").exists()


@pytest.mark.distributed
def test_indivisible_global_batch_under_mirrored_is_a_one_line_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "two_cpus.py"),
            "search_ptb",
            "--distribution_strategy=mirrored",
            "--child_batch_size=5",
            f"--workdir={tmp_path / 'w'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.startswith("search_ptb:")]
    assert lines == [
        "search_ptb: error: `--child_batch_size` (the global batch) must be divisible by the "
        "2 replicas of the distribution strategy. Received: child_batch_size=5"
    ]
    assert not (tmp_path / "w").exists()


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _workers(workdir, data_dir, **env):
    """Starts the acceptance command on two local workers (task 0 is the chief)."""
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    args = [
        "--flagfile=configs/ptb_search_smoke.flags",
        "--distribution_strategy=multi_worker_mirrored",
        f"--data_dir={data_dir}",
        f"--workdir={workdir}",
    ]
    procs = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(_bin(args, env=dict(os.environ, TF_CONFIG=config, **env)))
    return procs


@pytest.mark.distributed
@pytest.mark.e2e
@pytest.mark.slow
def test_two_workers_search_ptb_killed_after_an_epoch_resume_and_agree(tmp_path, shared_data):
    workdir = tmp_path / "search"
    # Both workers are SIGKILLed right after saving epoch 1's checkpoint (run.faults).
    procs = _workers(workdir, shared_data / "ptb", KERAS_ENAS_FAULT_POINT="checkpoint_after:1")
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [-9, -9], [err[-2000:] for _, err in outputs]
    assert (workdir / "checkpoints" / "ckpt-1.index").exists()
    assert not (workdir / "best_architecture.json").exists()
    procs = _workers(workdir, shared_data / "ptb")
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    assert all("Resumed from" in err for _, err in outputs)
    arcs = [next(x for x in out.splitlines() if x.startswith("fixed_arc")) for out, _ in outputs]
    assert arcs[0] == arcs[1]  # the workers agree
    result = json.loads((workdir / "best_architecture.json").read_text())
    assert arcs[0].endswith(result["fixed_arc"])
    assert "Wrote" in outputs[0][0] and "Wrote" not in outputs[1][0]  # only the chief wrote
    # Only the chief took the workdir's lock (a worker taking it would have been refused).
    assert (workdir / "lock").read_text().strip() == str(procs[0].pid)
    epochs = [json.loads(x)["epoch"] for x in (workdir / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]  # epoch 2 ran after the restart, each epoch logged once


@pytest.mark.distributed
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("space", ["macro", "micro"])
def test_cifar_search_smoke_runs_under_mirrored_on_two_cpus(tmp_path, shared_data, space):
    workdir = tmp_path / space
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "two_cpus.py"),
            "search_cifar10",
            f"--flagfile=configs/cifar10_{space}_search_smoke.flags",
            "--distribution_strategy=mirrored",
            f"--data_dir={shared_data / 'cifar10'}",
            f"--workdir={workdir}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((workdir / "best_architecture.json").read_text())
    assert proc.stdout.splitlines()[-2] == f"fixed_arc: {result['fixed_arc']}"
    epochs = [json.loads(x)["epoch"] for x in (workdir / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
