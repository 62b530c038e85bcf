"""`build_fixed_micro_cnn`: a found micro arc as a plain functional Keras model (final training)."""

import keras

from keras_enas.layers.aux_head import AuxHead
from keras_enas.layers.cell_blocks import conv2d, make_norm
from keras_enas.layers.fixed_micro_cell import fixed_cell
from keras_enas.models.shared_micro import check_layers, pool_layers
from keras_enas.search_spaces.micro import MicroCells

__all__ = ["AUX_LOSS_WEIGHT", "build_fixed_micro_cnn", "count_parameters"]

AUX_LOSS_WEIGHT = 0.4  # micro_child._build_train: loss = CE + 0.4 · aux CE


def _decode(space, arc):
    if isinstance(arc, MicroCells):
        return arc
    if getattr(space, "name", None) != "micro":
        raise TypeError(f"`space` must be a MicroSpace. Received: {space!r}")
    return space.decode(space.parse(arc))


def build_fixed_micro_cnn(
    space,
    arc,
    num_layers=15,
    filters=36,
    image_shape=(32, 32, 3),
    num_classes=10,
    dropout=0.2,
    use_aux_head=True,
    drop_path_keep_prob=0.6,
    seed=None,
    name="fixed_micro_cnn",
):
    """The network of one micro arc, trained from scratch (`micro_child._fixed_layer`).

    stem 3×3 conv (3 → 3F) + BN; `num_layers + 2` cells, those at
    `pool_layers(num_layers)` being reduction cells (stride-2 ops on the cell
    inputs, F doubled: 36 → 72 → 144 at the paper's final settings); head ReLU →
    global average pool → dropout → FC (no bias). Each cell's output is the concat
    of its loose ends; the next cell's calibration and "layer_base" bring it back to
    F. BN uses batch statistics in training and moving averages at inference.

    With `use_aux_head`, the auxiliary head follows cell `pool_layers[-1] + 1` and
    the model has two outputs, `[logits, aux_logits]`; compile with
    `loss_weights=[1, AUX_LOSS_WEIGHT]`. With `drop_path_keep_prob`, op outputs
    (identity excepted) go through `ScheduledDropPath`; advance its schedule with
    the `DropPathSchedule` callback.

    Args:
        space: the `MicroSpace` the arc belongs to.
        arc: a `fixed_arc` string, a sequence of ints, or a `MicroCells`.
        num_layers: L (15 in the paper's final model: 5 normal cells per stack).
        filters: F of the first stack (36).
        image_shape: `(H, W, 3)` of the inputs.
        num_classes: number of classes.
        dropout: dropout rate before the FC (1 − keep_prob; 0.2 in the final model).
        use_aux_head: whether to add the auxiliary head and output.
        drop_path_keep_prob: keep probability of the last cell at the end of
            training (0.6), or None for no drop-path.
        seed: int seed of the dropout and drop-path layers.
        name: model name.

    Returns:
        A `keras.Model` mapping images to logits, or to `[logits, aux_logits]`.

    Raises:
        TypeError / ValueError: on a wrong space, an invalid arc or bad sizes.

    Example:
    >>> space = MicroSpace(num_nodes=5)
    >>> model = build_fixed_micro_cnn(space, space.random_arc(0), num_layers=3,
    ...                               filters=4, image_shape=(8, 8, 3))
    >>> [o.shape for o in model.outputs]
    [(None, 10), (None, 10)]
    """
    cells = _decode(space, arc)
    check_layers(num_layers, filters)
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    pools, num_cells = pool_layers(num_layers), num_layers + 2
    images = keras.Input(image_shape, name="images")
    x = make_norm(False, name="stem_bn")(conv2d(3 * filters, 3, name="stem_conv")(images))
    layers, width, aux_logits = [x, x], filters, None
    for layer_id in range(num_cells):
        reduce = layer_id in pools
        width *= 2 if reduce else 1
        drop_path = (
            None if drop_path_keep_prob is None else (drop_path_keep_prob, layer_id, num_cells)
        )
        x = fixed_cell(
            layers,
            cells.reduce if reduce else cells.normal,
            width,
            2 if reduce else 1,
            drop_path,
            seed=None if seed is None else seed + 100 * (layer_id + 1),
            name=f"cell_{layer_id}",
        )
        layers = [layers[-1], x]
        if use_aux_head and layer_id == pools[-1] + 1:
            aux_logits = AuxHead(num_classes, name="aux_head")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(keras.layers.ReLU(name="head_relu")(x))
    x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = keras.layers.Dense(
        num_classes, use_bias=False, kernel_initializer="he_normal", name="logits"
    )(x)
    outputs = [logits, aux_logits] if use_aux_head else logits
    return keras.Model(images, outputs, name=name)


def count_parameters(model, exclude_aux_head=False):
    """Trainable parameters of `model` (the original prints this without the aux head)."""
    weights = [
        w
        for layer in model.layers
        if not (exclude_aux_head and layer.name == "aux_head")
        for w in layer.trainable_weights
    ]
    return int(sum(w.numpy().size for w in weights))
