"""Acceptance test of the public search-your-own-model API on real CIFAR-10 (public API only)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_enas as ke
from keras_enas.data import cifar10

TRACES = []


class CountTraces(keras.layers.Layer):
    """Identity that records every Python execution of its call (i.e. every trace)."""

    def call(self, x):
        TRACES.append(1)
        return x


def build_supernet():
    inp = keras.Input((16, 16, 3))
    h0 = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h1 = ke.OpChoice(
        [
            keras.Sequential(
                [
                    keras.layers.Conv2D(8, 3, padding="same"),
                    keras.layers.BatchNormalization(),
                    keras.layers.ReLU(),
                ]
            ),
            keras.layers.Conv2D(8, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(3, 1, padding="same"),
        ],
        name="block1",
    )(h0)
    h2 = ke.OpChoice(
        [
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
            CountTraces(),
        ],
        name="block2",
    )(h1)
    skips = ke.InputChoice(num_chosen=None, reduction="sum", name="skips")([h0, h1])
    h3 = keras.layers.Add()([h2, skips])
    h4 = ke.InputChoice(num_chosen=1, reduction="mean", name="out_input")([h1, h3])
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h4))
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def data(tiny_cifar10):
    d = cifar10.load_cifar10(tiny_cifar10, download=False)
    x = d.x_train[:640, ::2, ::2].astype("float32") / 255.0  # 16×16 for speed
    y = d.y_train[:640]
    train = tf.data.Dataset.from_tensor_slices((x[:512], y[:512])).batch(8)  # 64 steps
    valid = tf.data.Dataset.from_tensor_slices((x[512:], y[512:])).batch(64)
    return x, y, train, valid


SETTINGS = {
    "seed": 3,
    "controller": {"train_steps": 2, "num_aggregate": 2},
    "reward_batch_size": 32,
}


class Arcs(keras.callbacks.Callback):
    """Reads the choices' selections after each step: the arc that step trained."""

    def __init__(self, supernet):
        super().__init__()
        self.layers = [supernet.get_layer(n) for n in ("block1", "block2", "skips", "out_input")]
        self.arcs = []

    def on_train_batch_end(self, batch, logs=None):
        self.arcs.append(
            tuple(
                np.concatenate(
                    [np.ravel(layer.selection.numpy()) for layer in self.layers]
                ).tolist()
            )
        )


def test_only_chosen_candidates_get_gradient(data):
    x, y, _, _ = data
    supernet = build_supernet()
    search = ke.ENAS(
        supernet, loss="sparse_categorical_crossentropy", strategy="random", **SETTINGS
    )
    block1 = supernet.get_layer("block1")
    before = [[w.numpy() for w in c.weights] for c in block1.candidates]
    search.train_on_batch(x[:8], y[:8])
    chosen = int(block1.selection.numpy())
    for i, candidate in enumerate(block1.candidates):
        changed = [
            not np.array_equal(b, w.numpy()) for b, w in zip(before[i], candidate.trainable_weights)
        ]
        if i == chosen:
            assert any(changed), f"chosen candidate {i} was not trained"
        else:
            assert not any(changed), f"unchosen candidate {i} changed"


def test_search_fixed_save_and_resume(data, tmp_path):
    x, _, train, valid = data
    keras.utils.set_random_seed(0)
    supernet = build_supernet()
    search = ke.ENAS(
        supernet,
        loss="sparse_categorical_crossentropy",
        workdir=str(tmp_path / "a"),
        deterministic=True,
        **SETTINGS,
    )
    arcs = Arcs(supernet)
    search.fit(train, validation_data=valid, epochs=1, verbose=0, callbacks=[arcs])
    traces = len(TRACES)
    search.fit(train, validation_data=valid, epochs=2, verbose=0, callbacks=[arcs])
    # One trace serves every arc of epoch 2 (64 steps, many distinct arcs).
    assert len(TRACES) == traces
    assert len(arcs.arcs) >= 100 and len(set(arcs.arcs[64:])) >= 10
    state = [v.numpy() for v in search.variables]

    best = search.best_architecture(num_samples=8)
    assert set(best) == {"block1", "block2", "skips", "out_input"}
    assert os.path.exists(tmp_path / "a" / "best_architecture.json")
    assert os.path.getsize(tmp_path / "a" / "choices.png") > 1000
    # search_report on a user search: curves, heat maps per choice kind, top drawn.
    written = ke.write_report(str(tmp_path / "a"), top_k=3)
    assert set(written) == {"curves", "marginals", "top", "report"}
    text = open(written["report"]).read()
    assert "# Search report: user (enas)" in text and "| 2 | " in text
    assert f"`{json.load(open(tmp_path / 'a' / 'best_architecture.json'))['arc']}`" in text

    # The fixed model with the shared weights computes the shared model's function.
    shared_fixed = ke.fixed_model(supernet, best, copy_weights=True)
    ke.set_architecture(supernet, best)
    np.testing.assert_allclose(
        shared_fixed(x[:16], training=False), supernet(x[:16], training=False), atol=1e-5
    )
    assert not any(
        isinstance(layer, (ke.OpChoice, ke.InputChoice)) for layer in shared_fixed.layers
    )

    # Fresh weights, save → load (without keras_enas) → same outputs.
    final = ke.fixed_model(supernet, best)
    path = str(tmp_path / "final.keras")
    final.save(path)
    expected = np.asarray(final(x[:4], training=False))
    np.save(tmp_path / "x.npy", x[:4])
    script = (
        "import sys, numpy as np, keras; m = keras.models.load_model(sys.argv[1]); "
        "print(float(np.abs(m(np.load(sys.argv[2])) - np.load(sys.argv[3])).max())); "
        "print('keras_enas' in sys.modules)"
    )
    np.save(tmp_path / "y.npy", expected)
    out = subprocess.run(
        [sys.executable, "-c", script, path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    diff, imported = out.stdout.split()
    assert float(diff) < 1e-6 and imported == "False"

    # Resume: 1 epoch, reopen from the workdir on a new supernet, 1 more: bit-identical.
    keras.utils.set_random_seed(0)
    first = ke.ENAS(
        build_supernet(),
        loss="sparse_categorical_crossentropy",
        workdir=str(tmp_path / "b"),
        deterministic=True,
        **SETTINGS,
    )
    first.fit(train, validation_data=valid, epochs=1, verbose=0)
    resumed = ke.load_search(str(tmp_path / "b"), model=build_supernet())
    assert int(resumed.epochs_done.numpy()) == 1
    resumed.fit(train, validation_data=valid, epochs=2, verbose=0)
    assert len(state) == len(resumed.variables)
    for a, b in zip(state, resumed.variables):
        np.testing.assert_array_equal(a, b.numpy(), err_msg=b.path)
