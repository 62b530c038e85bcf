"""Tests for keras_enas.models.fixed_micro (and layers.fixed_micro_cell, layers.aux_head)."""

import keras
import numpy as np
import pytest

from keras_enas.layers.drop_path import drop_path_layers
from keras_enas.models.fixed_micro import AUX_LOSS_WEIGHT, build_fixed_micro_cnn, count_parameters
from keras_enas.search_spaces.macro import MacroSpace
from keras_enas.search_spaces.micro import MicroSpace

SPACE = MicroSpace(num_nodes=5)
# scripts/cifar10_micro_final.sh --child_fixed_arc (normal cell, then reduction cell).
MICRO_FINAL = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"


def _analytic_parameters(cells, num_layers, filters, size=32, aux=True):
    """Trainable parameters of `micro_child._fixed_layer`'s network, counted by hand."""

    def rcb(c, f):
        return c * f + 2 * f  # ReLU + 1x1 conv + BN; also a factorized reduction

    def sep(k, f):
        return 2 * (k * k * f + f * f + 2 * f)  # 2 x (depthwise, pointwise, BN)

    total = 27 * 3 * filters + 2 * 3 * filters  # stem conv 3x3 (3 -> 3F) + BN
    pools = [num_layers // 3, 2 * (num_layers // 3) + 1]
    chans, sizes, f = [3 * filters] * 2, [size] * 2, filters
    for layer_id in range(num_layers + 2):
        reduce = layer_id in pools
        f, cell = (2 * f, cells.reduce) if reduce else (f, cells.normal)
        total += rcb(chans[0], f) if sizes[0] != sizes[1] or chans[0] != f else 0
        total += (rcb(chans[1], f) if chans[1] != f else 0) + rcb(f, f)  # calib y, layer_base
        for pair in cell.nodes:
            for inp, op in pair:
                total += {"sep3": sep(3, f), "sep5": sep(5, f)}.get(op, 0)
                total += rcb(f, f) if op == "identity" and reduce and inp < 2 else 0
        new_size = sizes[1] // 2 if reduce else sizes[1]
        total += sum(rcb(f, f) for i in cell.loose_ends if i < 2 and reduce)
        chans, sizes = [chans[1], len(cell.loose_ends) * f], [sizes[1], new_size]
        if aux and layer_id == pools[-1] + 1:
            pooled = (new_size - 5) // 3 + 1
            total += chans[1] * 128 + 2 * 128 + pooled**2 * 128 * 768 + 2 * 768 + 768 * 10
    return total + chans[1] * 10  # FC, no bias


def test_paper_final_parameter_count():
    model = build_fixed_micro_cnn(SPACE, MICRO_FINAL, num_layers=15, filters=36)
    cells = SPACE.decode(SPACE.parse(MICRO_FINAL))
    total, without_aux = count_parameters(model), count_parameters(model, exclude_aux_head=True)
    assert total == _analytic_parameters(cells, 15, 36) == 4_389_220
    assert without_aux == _analytic_parameters(cells, 15, 36, aux=False) == 3_894_372
    assert abs(total - 4.6e6) / 4.6e6 < 0.05  # the paper's 4.6M, within 5 %
    assert model.get_layer("aux_head").output.shape == (None, 10)


def test_cell_shapes_channels_drop_path_placement_and_save_load(tmp_path):
    model = build_fixed_micro_cnn(
        SPACE, MICRO_FINAL, num_layers=3, filters=4, image_shape=(8, 8, 3), seed=0
    )
    shapes = [tuple(model.get_layer(f"cell_{i}_out").output.shape[1:]) for i in range(5)]
    # Normal cell: concat of 5 loose ends; reduction cell (cells 1, 3): 4 loose ends.
    assert shapes == [(8, 8, 20), (4, 4, 32), (4, 4, 40), (2, 2, 64), (2, 2, 80)]
    assert [o.shape for o in model.outputs] == [(None, 10), (None, 10)]
    non_identity = (8, 9)  # ops other than identity in the normal / reduction cell
    assert len(drop_path_layers(model)) == 3 * non_identity[0] + 2 * non_identity[1]
    assert not any(
        "node3_x" in layer.name or "node4_x" in layer.name
        for layer in drop_path_layers(model)
        if layer.name.startswith("cell_0")
    )
    keep = [layer.layer_keep_prob for layer in drop_path_layers(model)]
    assert min(keep) == pytest.approx(0.6) and max(keep) == pytest.approx(1 - 0.4 / 5)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 3)).astype(np.float32)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # save -> load -> same outputs
    for want, got in zip(model(x, training=False), loaded(x, training=False)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    assert len(drop_path_layers(loaded)) == len(drop_path_layers(model))


def test_one_training_step_updates_the_aux_head_and_inference_is_deterministic():
    model = build_fixed_micro_cnn(
        SPACE, SPACE.random_arc(7), num_layers=3, filters=4, image_shape=(8, 8, 3), seed=0
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True)] * 2,
        loss_weights=[1.0, AUX_LOSS_WEIGHT],
        run_eagerly=True,
    )  # no 20 s trace
    aux = model.get_layer("aux_head")
    before = [w.numpy() for w in aux.trainable_weights]
    model.fit(x, (y, y), batch_size=8, epochs=1, verbose=0)
    after = [w.numpy() for w in aux.trainable_weights]
    assert len(before) == 7 and all(not np.allclose(a, b) for a, b in zip(before, after))
    first, second = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(first[0].numpy(), second[0].numpy())


def test_without_aux_head_and_drop_path():
    model = build_fixed_micro_cnn(
        SPACE,
        SPACE.decode(SPACE.random_arc(3)),
        num_layers=3,
        filters=4,
        image_shape=(8, 8, 3),
        use_aux_head=False,
        drop_path_keep_prob=None,
    )
    assert model.output.shape == (None, 10)
    assert not drop_path_layers(model)


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="MicroSpace"):
        build_fixed_micro_cnn(MacroSpace(num_layers=3), MICRO_FINAL)
    with pytest.raises(ValueError, match="Invalid micro arc"):
        build_fixed_micro_cnn(SPACE, "0 2 0")
    with pytest.raises(ValueError, match="dropout"):
        build_fixed_micro_cnn(SPACE, MICRO_FINAL, dropout=-0.1)
