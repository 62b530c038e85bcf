"""The PTB shared-weight step under each `--distribution_strategy` on CPU; prints one JSON object.

Two logical CPU devices stand in for two accelerators (`mirrored`): on a CPU they share
the same cores, so the figure is the cost of the strategy's machinery (splitting the
batch, all-reducing gradients, broadcasting arcs), not a speed-up.

    python benchmarks/distribute_step.py --steps 20
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import dataclasses  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from machine_info import machine  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from keras_enas import config as config_lib  # noqa: E402
from keras_enas import distribute  # noqa: E402
from keras_enas.data import ptb  # noqa: E402
from keras_enas.search import callbacks as search_callbacks  # noqa: E402
from keras_enas.tasks.ptb import search as ptb_search  # noqa: E402

SIZE = dict(hidden_size=200, num_nodes=8, batch_size=64, bptt=35)  # enas_lm's small search
VOCAB = 10000
CASES = (("off", "1"), ("one_device", "1"), ("mirrored", "1"), ("mirrored", "replicas"))


class StepTimes(keras.callbacks.Callback):
    """Wall seconds of every training batch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def time_case(strategy, arcs_per_step, steps):
    config = config_lib.PTBSearchConfig(
        child=config_lib.RNNChildConfig(eval_batch_size=SIZE["batch_size"], **SIZE),
        controller=config_lib.ControllerConfig(hidden_size=32),
        search=config_lib.SearchConfig(arcs_per_step=arcs_per_step),
    )
    config = dataclasses.replace(config, seed=0)
    tokens = np.random.default_rng(0).integers(0, VOCAB, 200_000).astype(np.int32)
    c = config.child
    reward = ptb.lm_batches(tokens[:20_000], c.eval_batch_size, c.bptt)
    with distribute.scope(strategy):
        search = ptb_search.build_ptb_search(config, VOCAB, reward)
    timer = StepTimes()
    phase = search_callbacks.ControllerPhase(num_updates=0, num_logged=0, num_marginal_samples=0)
    search.fit(
        ptb.lm_dataset(tokens, c.batch_size, c.bptt).take(steps + 2),
        epochs=1,
        callbacks=[phase, timer],
        verbose=0,
        shuffle=False,
    )
    return statistics.median(timer.times[2:])  # the first steps trace and warm up


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="Timed steps per case.")
    args = parser.parse_args()
    strategies = {name: distribute.get_strategy(name) for name in ("off", "one_device")}
    strategies["mirrored"] = distribute.get_strategy("mirrored")  # the two logical CPUs
    results = {}
    for name, arcs in CASES:
        keras.utils.clear_session()
        key = f"{name}/arcs_per_step={arcs}"
        results[key] = {"ms_per_step": 1000 * time_case(strategies[name], arcs, args.steps)}
    base = results["off/arcs_per_step=1"]["ms_per_step"]
    for r in results.values():
        r["ratio_to_off"] = r["ms_per_step"] / base
    print(
        json.dumps(
            {
                "benchmark": "distribute_step",
                "size": dict(SIZE, vocab_size=VOCAB),
                "steps": args.steps,
                "note": "median wall ms of fit steps (dropouts on); 2 logical CPUs share the cores",
                "results": results,
                "machine": machine(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
