"""`build_fixed_macro`: one macro arc as a plain functional `keras.Model`, trained from scratch."""

import keras
import numpy as np

from keras_enas.layers.cell_blocks import FactorizedReduction
from keras_enas.layers.cell_blocks import conv2d as conv
from keras_enas.layers.shared_macro_layer import batch_norm

__all__ = ["build_fixed_macro"]


def _op(x, op, filters, prefix):
    """One op in the pre-activation order of the fixed model (reference §2(b)).

    conv k×k: ReLU → 1×1 conv → BN → ReLU → k×k conv → BN;
    sep k×k: the same with a true depthwise-separable k×k (depthwise + pointwise);
    pools: ReLU → 1×1 conv → BN → 3×3 pool, stride 1. (The original built seps as
    plain convs and had no pools at all: reference §6.5.)
    """
    x = keras.layers.ReLU(name=f"{prefix}_relu")(x)
    x = conv(filters, 1, name=f"{prefix}_1x1")(x)
    x = batch_norm(f"{prefix}_1x1_bn")(x)
    if op in ("avgpool3", "maxpool3"):
        pool = keras.layers.AveragePooling2D if op == "avgpool3" else keras.layers.MaxPooling2D
        return pool(3, strides=1, padding="same", name=f"{prefix}_{op}")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu2")(x)
    size = int(op[-1])
    if op.startswith("sep"):
        x = keras.layers.SeparableConv2D(
            filters,
            size,
            padding="same",
            use_bias=False,
            depthwise_initializer="he_normal",
            pointwise_initializer="he_normal",
            name=f"{prefix}_{op}",
        )(x)
    else:
        x = conv(filters, size, name=f"{prefix}_{op}")(x)
    return batch_norm(f"{prefix}_{op}_bn")(x)


def build_fixed_macro(
    space,
    arc,
    filters=96,
    dropout=0.5,
    num_classes=10,
    image_shape=(32, 32, 3),
    widen_factor=2,
    seed=None,
    name="fixed_macro",
):
    """Builds the stand-alone network of one macro arc (ENAS §2.3, final training).

    stem (3×3 conv + BN) → the arc's L layers → global average pool → dropout → FC.
    Layer k > 0 concatenates its selected skip inputs with its op's output and
    projects them back: `concat → ReLU → 1×1 conv → BN` (the original's fixed
    model; the search sums instead). After each of `space.pool_layers` the width
    doubles and every kept tensor, the stem included, goes through its own
    `FactorizedReduction` (96 → 192 → 384 in `cifar10_macro_final.sh`).

    Args:
        space: a `MacroSpace` whose `arc_length` fits `arc`.
        arc: the arc, a `fixed_arc` string or a sequence of ints.
        filters: width F of the first stage.
        dropout: dropout rate before the FC layer (1 − keep_prob).
        num_classes: number of classes.
        image_shape: input shape without the batch axis.
        widen_factor: the width is multiplied by this at each reduction (2 in the
            final model; 1 keeps the search's constant width, for comparisons).
        seed: int seed of the dropout masks.
        name: model name.

    Returns:
        A functional `keras.Model` mapping float32 `(B, H, W, 3)` standardised images
        to logits `(B, num_classes)`.

    Raises:
        ValueError: if the arc is invalid for `space`, or `filters`/`dropout` are out
            of range.

    Example:
    >>> space = MacroSpace(num_layers=3)
    >>> model = build_fixed_macro(space, "0 3 1 4 0 1", filters=4)
    >>> model.output_shape
    (None, 10)
    """
    arc = space.parse(arc) if isinstance(arc, str) else space.validate(arc)
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 2:
        raise ValueError(f"`filters` must be an int >= 2. Received: filters={filters!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    if widen_factor not in (1, 2):
        raise ValueError(f"`widen_factor` must be 1 or 2. Received: widen_factor={widen_factor}")
    network, layout = space.decode(arc), space.token_layout()
    width = int(filters)
    images = keras.Input(image_shape, name="images")
    x = conv(width, 3, name="stem")(images)
    prev = [batch_norm("stem_bn")(x)]  # nodes: stem, o0, o1, ...
    for k, (op, _) in enumerate(network.layers):
        out = _op(prev[-1], op, width, f"layer{k}")
        if k > 0:
            bits = arc[layout["skip_positions"][k, :k]]
            chosen = [prev[j] for j in np.flatnonzero(bits)] + [out]
            if len(chosen) > 1:
                out = keras.layers.Concatenate(name=f"layer{k}_concat")(chosen)
            out = keras.layers.ReLU(name=f"layer{k}_skip_relu")(out)
            out = conv(width, 1, name=f"layer{k}_skip_1x1")(out)
            out = batch_norm(f"layer{k}_skip_bn")(out)
        prev.append(out)
        if k in space.pool_layers:
            width *= widen_factor
            prev = [
                FactorizedReduction(width, name=f"pool{k}_from{j}")(t) for j, t in enumerate(prev)
            ]
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(prev[-1])
    x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = keras.layers.Dense(
        num_classes, use_bias=False, kernel_initializer="he_normal", name="fc"
    )(x)
    return keras.Model(images, logits, name=name)
