"""`--dry_run` of the searches: the space's size, steps per epoch, a few timed steps and the
run's estimated wall time; nothing written."""

import json
import math

import pytest
from absl import flags
from cifar_test_utils import REPO, run_bin
from ptb_test_utils import tiny_config

from keras_enas import cli
from keras_enas.config.cifar import CIFARSearchConfig
from keras_enas.data import cifar10, ptb
from keras_enas.data import cifar10_pipeline as pipeline
from keras_enas.search import dry_run
from keras_enas.search_spaces import get_space
from keras_enas.tasks.ptb import search as ptb_search


@pytest.mark.parametrize("num_layers", [3, 12])
def test_macro_space_size_is_the_papers(num_layers):
    # ENAS §3.1: 6^L × 2^(L(L-1)/2), about 1.6 × 10^29 for L = 12.
    size = get_space("macro", num_layers=num_layers).num_architectures
    assert size == 6**num_layers * 2 ** (num_layers * (num_layers - 1) // 2)
    if num_layers == 12:
        assert 1.6e29 < size < 1.61e29


@pytest.mark.parametrize("num_nodes", [2, 5])
def test_micro_and_rnn_space_sizes(num_nodes):
    # Micro: per cell, node i (i anchors before it) picks 2 inputs and 2 of 5 ops.
    per_cell = math.prod(25 * i * i for i in range(2, num_nodes + 2))
    assert get_space("micro", num_nodes=num_nodes).num_architectures == per_cell**2
    # RNN: node i ≥ 1 picks one of i inputs and one of 4 activations; node 0's
    # activation is fixed to tanh in the enas_lm format and free in the original one.
    n = num_nodes + 2
    enas_lm = 4 ** (n - 1) * math.factorial(n - 1)
    assert get_space("ptb_rnn", num_nodes=n).num_architectures == enas_lm
    assert get_space("ptb_rnn", num_nodes=n, arc_format="original").num_architectures == (
        4 * enas_lm
    )


def test_estimate_adds_tracing_epochs_controller_phases_and_deriving():
    config = tiny_config(
        num_epochs=4, controller_every=2, derive_num_samples=5, derive_num_batches=3
    )
    timed = {
        "tracing_seconds": 7.0,
        "train_step_seconds": 0.5,
        "valid_step_seconds": 0.25,
        "controller_update_seconds": 2.0,  # 2 rewarded samples (num_aggregate) + Adam
    }
    # 4 epochs × (10 × 0.5 + 4 × 0.25) + 2 phases × 2 updates × 2.0 + 15 rewards × 1.0.
    assert dry_run.estimate_seconds(timed, config, 10, 4) == 7 + 24 + 8 + 15
    random = tiny_config(num_epochs=4, strategy="random", log_num_arcs=3, derive_num_samples=5)
    # Random search: each phase rewards `log_num_arcs` uniform arcs, at the timed cost each.
    assert dry_run.estimate_seconds(timed, random, 10, 4) == 7 + 24 + 4 * 3 * 2.0 + 5 * 2.0


def _check(described, config, space, steps_per_epoch, valid_steps):
    assert described["num_architectures"] == space.num_architectures
    assert described["num_architectures_log10"] == round(math.log10(space.num_architectures), 2)
    assert described["steps_per_epoch"] == steps_per_epoch
    assert described["valid_steps"] == valid_steps
    assert described["num_epochs"] == config.search.num_epochs
    assert described["num_parameters"] > described["controller_parameters"] > 0
    timed = {k: described[k] for k in described if k.endswith("_seconds")}
    assert set(timed) == {
        "tracing_seconds",
        "train_step_seconds",
        "valid_step_seconds",
        "controller_update_seconds",
        "estimated_seconds",
    }
    assert all(v > 0 for k, v in timed.items() if k != "tracing_seconds")
    expected = dry_run.estimate_seconds(timed, config, steps_per_epoch, valid_steps)
    assert described["estimated_seconds"] == pytest.approx(expected, abs=0.1 + 1e-3 * expected)
    json.dumps(described)  # one JSON line


def test_ptb_dry_run_describes_the_search_and_writes_nothing(tiny_ptb, tmp_path):
    config = tiny_config(workdir=str(tmp_path / "run"), steps_per_epoch=0, valid_steps=0)
    data = ptb.load_ptb(tiny_ptb, download=False)
    c = config.child
    train_ds = ptb.lm_dataset(data.train, c.batch_size, c.bptt)
    valid_ds = ptb.lm_dataset(data.valid, c.eval_batch_size, c.bptt)
    described = ptb_search.describe_ptb_search(
        config,
        train_ds,
        valid_ds,
        ptb.lm_batches(data.valid, c.eval_batch_size, c.bptt),
        data.vocab_size,
    )
    # One pass over the training stream per epoch, the whole validation split.
    steps = len(ptb.lm_batches(data.train, c.batch_size, c.bptt)[0])
    valid = len(ptb.lm_batches(data.valid, c.eval_batch_size, c.bptt)[0])
    assert steps > 100 and valid > 10
    _check(described, config, get_space("ptb_rnn", num_nodes=4), steps, valid)
    assert described["vocab_size"] == data.vocab_size == 50
    assert not (tmp_path / "run").exists()


@pytest.mark.e2e
def test_search_cifar10_dry_run_prints_one_json_line_and_writes_nothing(tiny_cifar10, tmp_path):
    args = [
        f"--flagfile={REPO / 'configs' / 'cifar10_macro_search_smoke.flags'}",
        f"--data_dir={tiny_cifar10}",
        f"--workdir={tmp_path / 'run'}",
        "--search_steps_per_epoch=0",  # one pass over the training split per epoch
    ]
    result = run_bin("search_cifar10", *args, "--dry_run")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    described = json.loads(lines[0])
    values = flags.FlagValues()
    cli.define_flags(CIFARSearchConfig, flag_values=values)
    values(["search_cifar10", *args])
    config = cli.config_from_flags(CIFARSearchConfig, flag_values=values)
    data = cifar10.load_cifar10(tiny_cifar10, download=False)
    (x_train, _), _ = pipeline.split_validation(
        data.x_train, data.y_train, valid_fraction=config.data.valid_fraction
    )
    steps = len(x_train) // config.child.batch_size  # the last partial minibatch is dropped
    space = get_space("macro", num_layers=config.child.num_layers)
    _check(described, config, space, steps, config.search.valid_steps)
    assert described["estimated_wall_time"]
    assert not (tmp_path / "run").exists()
