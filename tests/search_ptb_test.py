"""End-to-end tests of the PTB search: one trace for every arc, resume, bin/search_ptb."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from ptb_test_utils import synthetic_inputs as _synthetic_inputs
from ptb_test_utils import tiny_config as _tiny_config

from keras_enas.run import quiet
from keras_enas.tasks.ptb import search as run_ptb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_one_trace_serves_every_arc():
    config = _tiny_config()
    inputs = _synthetic_inputs(config)
    search = run_ptb.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    traces = {"child": 0, "controller": 0}

    def child_step(x, y, arc):
        traces["child"] += 1
        return search.child_train_step(x, y, arc)

    def controller_step():
        traces["controller"] += 1
        return search.trainer.accumulate(search.reward)

    child_fn, controller_fn = tf.function(child_step), tf.function(controller_step)
    x, y = next(iter(inputs["train_ds"]))
    rng = np.random.default_rng(0)
    child_arcs, controller_arcs = set(), set()
    for _ in range(60):
        arc = search.space.random_arc(rng)
        child_arcs.add(arc.tobytes())
        assert np.isfinite(float(child_fn(x, y, tf.constant(arc))))
        _, sampled = controller_fn()
        controller_arcs.add(sampled.numpy().tobytes())
    assert len(child_arcs) >= 50 and len(controller_arcs) >= 50
    assert traces == {"child": 1, "controller": 1}


def _variables(search):
    """Every variable's value, keyed by position (Keras numbers layer names per process)."""
    return {f"{i}:{v.name}": v.numpy() for i, v in enumerate(search.variables)}


def test_resume_reaches_the_same_state(tmp_path):
    tf.config.experimental.enable_op_determinism()
    full = _tiny_config(str(tmp_path / "full"), num_epochs=3, deterministic=True)
    inputs = _synthetic_inputs(full)
    run_ptb.run_ptb_search(full, **inputs)
    expected = _variables(_reload(full, inputs))

    split = dataclasses.replace(full, workdir=str(tmp_path / "split"))
    first = dataclasses.replace(split, search=dataclasses.replace(split.search, num_epochs=1))
    run_ptb.run_ptb_search(first, **inputs)  # "interrupted" after epoch 1
    result = run_ptb.run_ptb_search(split, **inputs)  # same command again: resumes
    actual = _variables(_reload(split, inputs))
    assert expected.keys() == actual.keys()
    differ = [key for key in expected if not np.array_equal(expected[key], actual[key])]
    assert not differ
    lines = open(os.path.join(split.workdir, "log.jsonl")).read().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert result["search_space"] == "ptb_rnn"


def _reload(config, inputs):
    """A fresh search restored from the workdir's latest checkpoint."""
    from keras_enas.run import workdir

    search = run_ptb.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    manager = workdir.checkpoint_manager(
        config.workdir, search=search, child_optimizer=search.optimizer, trainer=search.trainer
    )
    assert workdir.restore_latest(manager)
    return search


def test_random_strategy_never_trains_the_controller(tmp_path):
    config = _tiny_config(str(tmp_path), strategy="random", num_epochs=1)
    inputs = _synthetic_inputs(config)
    search = run_ptb.build_ptb_search(config, inputs["vocab_size"], inputs["reward_batches"])
    before = [v.numpy() for v in search.controller.trainable_variables]
    run_ptb.run_ptb_search(config, **inputs)
    after = _reload(config, inputs)
    for b, a in zip(before, after.controller.trainable_variables):
        np.testing.assert_array_equal(b, a.numpy())
    best = json.load(open(tmp_path / "best_architecture.json"))
    assert best["strategy"] == "random"


def test_resume_with_other_settings_is_refused(tmp_path):
    config = _tiny_config(str(tmp_path), num_epochs=1)
    inputs = _synthetic_inputs(config)
    run_ptb.run_ptb_search(config, **inputs)
    other = dataclasses.replace(config, seed=4)
    with pytest.raises(ValueError, match=r"different config \(differs in: seed\)"):
        run_ptb.run_ptb_search(other, **inputs)


def _bin(name, *args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "bin", name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_search_ptb_smoke_on_real_data(shared_data, tmp_path):
    workdir = tmp_path / "run"
    proc = _bin(
        "search_ptb",
        "--flagfile=configs/ptb_search_smoke.flags",
        f"--data_dir={shared_data / 'ptb'}",
        f"--workdir={workdir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = json.load(open(workdir / "best_architecture.json"))
    assert best["search_space"] == "ptb_rnn"
    assert len(best["fixed_arc"].split()) == 2 * 4 - 1  # original format, N = 4
    assert len(best["arcs"]["enas_lm"].split()) == 2 * (4 - 1)
    assert best["scores"] == sorted(best["scores"], key=lambda s: -s["reward"])
    assert len(best["decoded"]["nodes"]) == 4
    records = [json.loads(line) for line in open(workdir / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in (
        "loss",
        "ppl",
        "val_ppl",
        "controller_reward",
        "controller_baseline",
        "controller_entropy",
        "lr",
    ):
        assert all(np.isfinite(r[key]) for r in records), key
    assert records[0]["ppl"] < 10000 * 1.5  # a finite perplexity on a 10k vocabulary
    for r in records:  # the controller's per-decision probabilities, in arc order
        probs = r["marginals"]["probs"]
        assert [len(p) for p in probs] == [1, 4, 2, 4, 3, 4]  # enas_lm, N = 4
        assert all(abs(sum(p) - 1) < 1e-3 for p in probs)
    assert os.listdir(workdir / "tensorboard" / "controller")  # heat maps, histograms
    assert "epoch 1: first step (tracing) took" in proc.stderr
    assert "epoch 2/2 done in" in proc.stderr
    assert os.listdir(workdir / "tensorboard")
    assert (workdir / "cell.png").read_bytes()[:4] == b"\x89PNG"
    assert "--child_hidden_size=16" in open(workdir / "flags.txt").read()
    assert json.load(open(workdir / "config.json"))["child"]["hidden_size"] == 16
    # Quiet logs: no TensorFlow start-up lines, no INFO line per checkpoint.
    assert [line for line in proc.stderr.splitlines() if quiet.is_startup_noise(line)] == []
    assert "Sharding callback" not in proc.stderr
    # show_arc reads the search's own record (size inferred, --fixed_arc ignored).
    shown = _bin("show_arc", f"--arc_file={workdir}", "--json", "--fixed_arc=0 1")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == best["decoded"]
    # search_report on the finished search: the program writes its four files.
    proc = _bin("search_report", f"--workdir={workdir}", "--top_k=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("report.png", "report_marginals.png", "report_top.png"):
        assert (workdir / name).read_bytes()[:4] == b"\x89PNG", name
    text = (workdir / "report.md").read_text()
    assert "# Search report: ptb_rnn (enas)" in text and "| ops rnn_activation | 3 |" in text
    assert f"`{best['top_k'][0]['arc']}`" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--child_hidden_size=-3"], r"child_hidden_size"),
        (["--search_strategy=greedy"], r"search_strategy"),
        (["--data_dir=/nonexistent/ptb"], r"ptb.train.txt"),
    ],
)
def test_search_ptb_bad_input_is_one_clear_line(tmp_path, args, message):
    proc = _bin(
        "search_ptb", "--flagfile=configs/ptb_search_smoke.flags", f"--workdir={tmp_path}", *args
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert any(__import__("re").search(message, line) for line in proc.stderr.splitlines())
