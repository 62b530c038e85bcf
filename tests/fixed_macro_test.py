"""Tests of the fixed macro network: every op, widths, skip projections, parameter count."""

import keras
import numpy as np
import pytest
from cifar_test_utils import MACRO_FINAL, analytic_parameters

from keras_enas.models.fixed_macro import build_fixed_macro
from keras_enas.search_spaces.macro import MACRO_OPS, MacroSpace

_OP_LAYERS = {
    "conv3": keras.layers.Conv2D,
    "conv5": keras.layers.Conv2D,
    "sep3": keras.layers.SeparableConv2D,
    "sep5": keras.layers.SeparableConv2D,
    "avgpool3": keras.layers.AveragePooling2D,
    "maxpool3": keras.layers.MaxPooling2D,
}


def _images(batch=2, size=8):
    return np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype("float32")


@pytest.mark.parametrize("op_id", range(len(MACRO_OPS)))
def test_every_op_builds_and_runs(op_id):
    op = MACRO_OPS[op_id]
    space = MacroSpace(3)
    model = build_fixed_macro(
        space, f"{op_id} {op_id} 1 {op_id} 1 1", filters=4, image_shape=(8, 8, 3)
    )
    logits = model(_images(), training=False)
    assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
    for k in range(3):
        layer = model.get_layer(f"layer{k}_{op}")
        assert type(layer) is _OP_LAYERS[op]
        if op.startswith("sep"):  # a TRUE depthwise-separable conv, not a full conv
            size = int(op[-1])
            assert tuple(layer.depthwise_kernel.shape) == (size, size, layer.filters, 1)
            assert tuple(layer.pointwise_kernel.shape) == (1, 1, layer.filters, layer.filters)
        if op.endswith("pool3"):
            assert layer.pool_size == (3, 3) and layer.strides == (1, 1)


def test_max_pool_op_really_pools():
    model = build_fixed_macro(MacroSpace(3), "5 5 0 5 0 0", filters=4, image_shape=(8, 8, 3))
    view = keras.Model(
        model.input,
        [model.get_layer("layer0_1x1_bn").output, model.get_layer("layer0_maxpool3").output],
    )
    before, after = (np.asarray(t) for t in view(_images()))
    np.testing.assert_allclose(after[:, 1, 1], before[:, :3, :3].max(axis=(1, 2)), rtol=1e-6)


def test_pre_activation_order_and_concatenated_skip_projection():
    space = MacroSpace(6)
    arc = space.random_arc(3)
    arc[space.token_layout()["op_positions"][5]] = 2  # layer 5: conv5
    model = build_fixed_macro(space, arc, filters=4, image_shape=(16, 16, 3))
    names = [layer.name for layer in model.layers]
    order = [
        "layer5_relu",
        "layer5_1x1",
        "layer5_1x1_bn",
        "layer5_relu2",
        "layer5_conv5",
        "layer5_conv5_bn",
    ]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    skips = int(arc[space.token_layout()["skip_positions"][5, :5]].sum())
    # concat(skips, op) -> ReLU -> 1x1 conv back to the stage width (16 after two pools).
    kernel = model.get_layer("layer5_skip_1x1").kernel
    assert tuple(kernel.shape) == (1, 1, 16 * (skips + 1), 16)


def test_width_doubles_at_each_reduction():
    space = MacroSpace(6)  # pools after layers 1 and 3
    model = build_fixed_macro(space, space.random_arc(0), filters=4, image_shape=(16, 16, 3))
    widths = [model.get_layer(f"layer{k}_1x1").filters for k in range(6)]
    assert widths == [4, 4, 8, 8, 16, 16]
    assert model.get_layer("pool1_from0").output.shape == (None, 8, 8, 8)  # stem reduced
    assert model.get_layer("pool3_from4").output.shape == (None, 4, 4, 16)  # o3 reduced
    assert tuple(model.get_layer("fc").kernel.shape) == (16, 10)


def test_parameter_count_of_the_published_macro_final_network():
    space = MacroSpace(24)
    arc = space.parse(MACRO_FINAL)
    network = space.decode(arc)  # the flagfile holds the script's arc (reference §2(b))
    assert network.num_skips == 98 and network.layers[23] == (
        "conv3",
        ("stem", "o0", "o4", "o5", "o6", "o8", "o12", "o14", "o17", "o18"),
    )
    model = build_fixed_macro(space, arc, filters=96)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == analytic_parameters(space, arc, 96) == 30_947_424


@pytest.mark.parametrize("seed", range(4))
def test_parameter_count_of_random_arcs(seed):
    space = MacroSpace(6)
    arc = space.random_arc(seed, skip_prob=0.3)
    model = build_fixed_macro(space, arc, filters=4, image_shape=(16, 16, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == analytic_parameters(space, arc, 4)


def test_bad_arguments_raise():
    space = MacroSpace(3)
    with pytest.raises(ValueError, match=r"Invalid macro arc: expected 6 tokens .* received 5"):
        build_fixed_macro(space, "0 0 0 0 0")
    with pytest.raises(ValueError, match=r"token 0 \(layer 0 op\) is 6"):
        build_fixed_macro(space, "6 0 0 0 0 0")
    with pytest.raises(ValueError, match=r"`filters` must be an int >= 2. Received: filters=1"):
        build_fixed_macro(space, "0 0 0 0 0 0", filters=1)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\)"):
        build_fixed_macro(space, "0 0 0 0 0 0", dropout=1.5)
