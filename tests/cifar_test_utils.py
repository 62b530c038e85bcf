"""Helpers shared by the CIFAR-10 tests: the published macro arc, bin runs, synthetic data."""

import os
import pathlib
import subprocess
import sys

import numpy as np

from keras_enas.config.cifar import CIFARChildConfig, CIFARSearchConfig
from keras_enas.config.search import ControllerConfig, SearchConfig
from keras_enas.search_spaces.macro import MACRO_OPS

REPO = pathlib.Path(__file__).resolve().parents[1]
MEAN, STD = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)


def _flagfile_arc(name):
    for line in (REPO / "configs" / name).read_text().splitlines():
        if line.startswith("--fixed_arc="):
            return line.split("=", 1)[1]
    raise ValueError(f"configs/{name} sets no --fixed_arc")


# scripts/cifar10_macro_final.sh (24 layers, 300 tokens), as configs/ holds it; a test in
# fixed_macro_test.py checks it against enas-reference.md §2(b).
MACRO_FINAL = _flagfile_arc("cifar10_macro_final.flags")


def run_bin(name, *args, timeout=300):
    """Runs `bin/<name>` from the repository root; returns the `CompletedProcess`."""
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "bin", name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def random_images(count=32, size=8, seed=0):
    """`(uint8 images (count, size, size, 3), int32 labels (count,))`, uniform noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, size, size, 3)).astype(np.uint8)
    return images, rng.integers(0, 10, size=count).astype(np.int32)


def standardized(images):
    """`images` standardised with MEAN and STD, as float32."""
    return (images.astype(np.float32) / 255 - MEAN) / STD


def tiny_search_config(workdir=None, child=None, **search):
    """3 layers of width 4 on 8 x 8 images; a 16-unit controller."""
    child = child or CIFARChildConfig(num_layers=3, filters=4, batch_size=8, eval_batch_size=8)
    controller = ControllerConfig(
        hidden_size=16, tanh_constant=1.5, temperature=0.0, train_steps=2, num_aggregate=2
    )
    settings = dict(
        num_epochs=1, steps_per_epoch=2, valid_steps=2, derive_num_samples=3, log_num_arcs=2
    )
    settings.update(search)
    return CIFARSearchConfig(
        child=child, controller=controller, search=SearchConfig(**settings), workdir=workdir, seed=1
    )


def analytic_parameters(space, arc, filters, num_classes=10):
    """Trainable parameters of the fixed macro network, counted from the architecture.

    A reduction exists only for a node that a later layer reads (as its main input,
    node k for layer k, or through a skip bit): the functional model holds no unused
    layer.
    """
    layout, width = space.token_layout(), filters
    skips = [arc[layout["skip_positions"][k, :k]] for k in range(space.num_layers)]

    def used_after(node, layer):
        return any(
            node == k or (node < k and skips[k][node]) for k in range(layer + 1, space.num_layers)
        )

    total = 3 * 3 * 3 * width + 2 * width  # stem conv + BN
    for k, position in enumerate(layout["op_positions"]):
        op, c = MACRO_OPS[arc[position]], width
        total += c * c + 2 * c  # 1x1 conv + BN
        size = int(op[-1])
        if op.startswith("conv"):
            total += size * size * c * c + 2 * c  # k x k conv + BN
        elif op.startswith("sep"):
            total += size * size * c + c * c + 2 * c  # depthwise + pointwise + BN
        if k > 0:
            total += (int(skips[k].sum()) + 1) * c * c + 2 * c  # concat -> 1x1 conv + BN
        if k in space.pool_layers:
            width *= 2
            reduced = sum(used_after(node, k) for node in range(k + 2))
            total += reduced * (c * width + 2 * width)  # two 1x1 paths + BN each
    return total + width * num_classes  # FC, no bias
