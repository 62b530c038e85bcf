"""`SharedMicroCell`: every candidate's weights of one micro cell; runs the ops an arc picks."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas.layers import cell_blocks, micro_ops

__all__ = [
    "combine_gathered_loose_ends",
    "combine_loose_ends",
    "compute_all_nodes",
    "recomputed",
    "OP_SELECTIONS",
    "SEP_KERNELS",
    "SharedMicroCell",
    "switch_case_nodes",
    "traced_switch_case_cell",
    "WEIGHT_SHARINGS",
]

OP_SELECTIONS = ("compute_all", "switch_case")
WEIGHT_SHARINGS = ("fine", "coarse")  # per (node, slot, input) / per (node, input)
SEP_KERNELS = (3, 5)  # op ids 0, 1 (MICRO_OPS); 2 avgpool3, 3 maxpool3, 4 identity
_LAYOUT_KEYS = ("input_positions", "op_positions")


def _as_layout(token_layout, num_nodes):
    if hasattr(token_layout, "token_layout"):
        token_layout = token_layout.token_layout()
    if not isinstance(token_layout, dict) or set(_LAYOUT_KEYS) - set(token_layout):
        raise TypeError(
            "`token_layout` must be a MicroSpace or a dict with keys "
            f"{_LAYOUT_KEYS}. Received: {token_layout!r}"
        )
    layout = {key: np.asarray(token_layout[key], np.int32) for key in _LAYOUT_KEYS}
    if any(v.shape != (2, num_nodes, 2) for v in layout.values()):
        raise ValueError(
            f"`token_layout` does not describe {num_nodes}-node cells. Received "
            f"shapes: { {k: v.shape for k, v in layout.items()} }"
        )
    return layout


def _unstack_nested(structure):
    """Splits every tensor of a nested structure along axis 0: a list of structures."""
    flat = [tf.unstack(t) for t in tf.nest.flatten(structure)]
    return [tf.nest.pack_sequence_as(structure, list(parts)) for parts in zip(*flat)]


def _he_normal(fan_in):
    """He-normal (truncated) for one bank row, with the fan-in of the conv it is."""
    return keras.initializers.TruncatedNormal(stddev=np.sqrt(2.0 / fan_in) / 0.87962566)


def _node_list(inputs):
    """A `TensorList` holding `inputs` (a cell's two inputs, to which the nodes are
    appended as they are computed; or all the nodes, for the loose ends' gather).

    Reading a node by a tensor index (`TensorListGetItem`) neither copies nor stacks, and
    its gradient is a list with one item set; those lists add up item by item, unset
    items skipped, so each node's gradient is the sum of only what its readers sent. (A
    `gather` from the stacked nodes built a dense `(j + 2, B, H, W, F)` gradient with
    `UnsortedSegmentSum` per node and re-stacked the nodes every time: a fifth of the
    shared step's kernel time; README, "Where the time went".)
    """
    first = inputs[0]
    nodes = tf.raw_ops.EmptyTensorList(
        element_shape=tf.shape(first), max_num_elements=-1, element_dtype=first.dtype
    )
    for x in inputs:
        nodes = tf.raw_ops.TensorListPushBack(input_handle=nodes, tensor=x)
    return nodes


def _read_node(nodes, index, like):
    """Node `index` (a scalar tensor) of the `TensorList` `nodes`, shaped as `like`."""
    x = tf.raw_ops.TensorListGetItem(
        input_handle=nodes, index=index, element_shape=tf.shape(like), element_dtype=like.dtype
    )
    x.set_shape(like.shape)
    return x


def switch_case_nodes(inputs, input_ids, op_ids, sep3, sep5, sep_conv_recompute="none"):
    """All node tensors of one cell, each (node, slot) running only its op (`switch_case`).

    Args:
        inputs: the two cell inputs, `(B, H, W, F)` each.
        input_ids, op_ids: int32 `(N, 2)`, the cell's half of the arc.
        sep3, sep5: per stack, the gathered `(N, 2, ...)` rows of the weight banks.
        sep_conv_recompute: `micro_ops.sep_conv`'s `recompute`.

    Returns:
        The `N + 2` node tensors, the two inputs first.
    """
    per_node_ids = tf.unstack(input_ids)  # one op per tensor, not one slice per node
    per_node = _unstack_nested((sep3, sep5, op_ids))
    nodes, readable = list(inputs), _node_list(inputs)
    for j, ids in enumerate(per_node_ids):
        chosen = [_read_node(readable, i, inputs[1]) for i in tf.unstack(ids)]
        slots = _unstack_nested(per_node[j])  # per slot: (sep3, sep5, op_id)
        nodes.append(
            tf.add_n(
                [
                    micro_ops.switch_op(x, op_id, w3, w5, sep_conv_recompute)
                    for x, (w3, w5, op_id) in zip(chosen, slots)
                ]
            )
        )
        if j + 1 < len(per_node_ids):  # the last node is read by no node
            readable = tf.raw_ops.TensorListPushBack(input_handle=readable, tensor=nodes[-1])
    return nodes


def compute_all_nodes(inputs, input_ids, op_ids, sep3, sep5, sep_conv_recompute="none"):
    """`switch_case_nodes` (same arguments and result), every op computed and masked."""
    filters = inputs[1].shape[-1]
    per_node_ids = tf.unstack(input_ids)  # one op per tensor, not one slice per node
    per_node = _unstack_nested(
        (micro_ops.select_sep_weights(op_ids, sep3, sep5), micro_ops.op_masks(op_ids, filters))
    )
    nodes = list(inputs)
    for j, ids in enumerate(per_node_ids):
        stacked = tf.stack(nodes, axis=3)  # (B, H, W, j + 2, F)
        chosen = tf.gather(stacked, ids, axis=3)  # (B, H, W, 2, F)
        stacks, masks = per_node[j]
        x = tf.reshape(chosen, [-1, *chosen.shape[1:3], 2 * filters])
        nodes.append(micro_ops.compute_all_pair(x, stacks, masks, sep_conv_recompute))
    return nodes


def recomputed(function, tensors):
    """`function(tensors)`, its activations recomputed in the backward pass, not kept.

    Gradient checkpointing (`tf.recompute_grad`): the forward pass keeps only the
    inputs (`tensors`, a nested structure of float tensors) and the output; the
    backward pass runs `function` again to differentiate it. `function` must be a
    pure function of `tensors` (and of tensors it closes over, which get no
    gradient): no random ops, no state updates; the shared micro cell is one (its
    BNs use batch statistics and update nothing).
    """
    flat = tf.nest.flatten(tensors)

    def flat_function(*flat_tensors):
        return function(tf.nest.pack_sequence_as(tensors, list(flat_tensors)))

    return tf.recompute_grad(flat_function)(*flat)


def combine_loose_ends(nodes, input_ids, kernel, gamma, beta, epsilon):
    """ReLU → the loose ends' 1×1 conv slices (the others masked to 0), summed → BN."""
    used = tf.one_hot(tf.reshape(input_ids, [-1]), len(nodes), dtype=kernel.dtype)
    kernel = kernel * (1.0 - tf.reduce_max(used, axis=0))[:, None, None]
    kernel = tf.reshape(kernel, tf.stack([1, 1, -1, tf.shape(kernel)[-1]]))
    out = tf.nn.conv2d(tf.nn.relu(tf.concat(nodes, axis=-1)), kernel, 1, "SAME")
    return cell_blocks.batch_stat_norm(out, gamma, beta, epsilon)


def combine_gathered_loose_ends(nodes, input_ids, kernel, gamma, beta, epsilon):
    """`combine_loose_ends` (same arguments and result), on the loose ends alone.

    The k loose ends are gathered from a `TensorList` of the nodes (the others are
    not copied), laid side by side along channels, and go through ReLU and one 1×1
    conv with their k kernel slices, as the original gathers them. The backward pass
    keeps one `(B, H, W, k·F)` tensor, not the ReLU of all `N + 2` nodes concatenated,
    and the conv reads k·F channels, not (N + 2)·F. Shapes depend on k: not for XLA.
    """
    used = tf.reduce_max(tf.one_hot(tf.reshape(input_ids, [-1]), len(nodes), dtype=tf.int32), 0)
    loose = tf.cast(tf.reshape(tf.where(tf.equal(used, 0)), [-1]), tf.int32)
    shape, filters = tf.shape(nodes[0]), tf.shape(kernel)[-1]
    chosen = tf.raw_ops.TensorListGather(
        input_handle=_node_list(nodes),
        indices=loose,
        element_shape=shape,
        element_dtype=nodes[0].dtype,
    )  # (k, B, H, W, F)
    # Relu after the transpose (in place on its copy): one kept tensor, read by both
    # gradients, and nothing of size k·B·H·W·F kept only for its shape.
    side_by_side = tf.nn.relu(tf.transpose(chosen, [1, 2, 3, 0, 4]))  # (B, H, W, k, F)
    kernel = tf.reshape(tf.gather(kernel, loose), tf.stack([1, 1, -1, filters]))
    out = tf.nn.conv2d(
        tf.reshape(side_by_side, tf.concat([shape[:-1], [-1]], axis=0)), kernel, 1, "SAME"
    )
    return cell_blocks.batch_stat_norm(out, gamma, beta, epsilon)


@tf.function(experimental_attributes={"_noinline": True})
def _switch_case_cell(
    inputs, input_ids, op_ids, sep3, sep5, kernel, gamma, beta, epsilon, sep_conv_recompute
):
    nodes = switch_case_nodes(inputs, input_ids, op_ids, sep3, sep5, sep_conv_recompute)
    return combine_gathered_loose_ends(nodes, input_ids, kernel, gamma, beta, epsilon)


_CELL_FUNCTIONS = {}  # traced cells by argument specs


def _any_width(tensor, static_dims):
    """A `TensorSpec` of `tensor` that keeps its first `static_dims` sizes, the rest unknown."""
    shape = tensor.shape.as_list()
    return tf.TensorSpec(shape[:static_dims] + [None] * (len(shape) - static_dims), tensor.dtype)


def traced_switch_case_cell(
    inputs, input_ids, op_ids, sep3, sep5, kernel, gamma, beta, epsilon, sep_conv_recompute="none"
):
    """A whole `switch_case` cell as ONE function, traced once for every cell of the network.

    The function is traced for inputs of any batch, height, width and width F (only
    the node and slot counts are static), so all cells, normal and reduction, of every
    stage share one trace, one gradient and one graph optimisation: at the search's
    default size 1 trace instead of 3 (one per stage shape): the step's graph about
    half (11.7 k nodes instead of 23.9 k), its first step about half as long; its peak
    memory barely moved (README, "Where the time went"). Not inlined, so Grappler
    optimises the body once, not once per cell.

    Args:
        inputs: the two cell inputs `(B, H, W, F)`.
        input_ids, op_ids: int32 `(N, 2)`, the cell's half of the arc.
        sep3, sep5: per stack, the gathered `(N, 2, ...)` rows of the weight banks.
        kernel, gamma, beta, epsilon: the output 1×1 conv `(N + 2, F, F)` and its BN.
        sep_conv_recompute: `micro_ops.sep_conv`'s `recompute`.

    Returns:
        `(B, H, W, F)`, with the static shape of `inputs[1]`.
    """
    args = (list(inputs), input_ids, op_ids, sep3, sep5, kernel, gamma, beta)
    specs = (
        [_any_width(x, 0) for x in inputs],
        input_ids,
        op_ids,
        tf.nest.map_structure(lambda w: _any_width(w, 2), sep3),
        tf.nest.map_structure(lambda w: _any_width(w, 2), sep5),
        _any_width(kernel, 1),
        _any_width(gamma, 0),
        _any_width(beta, 0),
    )
    specs = tf.nest.map_structure(
        lambda t: t if isinstance(t, tf.TensorSpec) else tf.TensorSpec(t.shape, t.dtype), specs
    )  # no tensor names in the specs: one key, one ConcreteFunction for every cell
    options = (float(epsilon), str(sep_conv_recompute))
    key = (repr(specs), *options)
    if key not in _CELL_FUNCTIONS:  # one ConcreteFunction: one forward/backward pair too
        _CELL_FUNCTIONS[key] = _switch_case_cell.get_concrete_function(*specs, *options)
    function = _CELL_FUNCTIONS[key]
    out = function(*args, *options)
    out.set_shape(inputs[1].shape)
    return out


class SharedMicroCell(keras.layers.Layer):
    """The shared weights ω of one micro cell (ENAS §2.4; reference §2(c)).

    Node b = 2 … B−1 is `op_x(node[x_id]) + op_y(node[y_id])`. As in
    `micro_child._enas_layer` (whose "x" and "y" variable scopes are separate),
    each (node, slot x/y, input index) has its own sep-conv weights: depthwise,
    pointwise and BN γ/β of both stacked convs of sep3 and of sep5
    (`weight_sharing="fine"`). With `"coarse"` they are kept per (node, input
    index), as the paper describes them and NNI keeps them: both slots of a node
    reading the same input share them (half the rows). They are rows of one bank
    per tensor, gathered once per call by the arc's input ids, so the gradient
    (an `IndexedSlices`) touches only the chosen rows. Pool and identity
    ops have no weights (inputs are already calibrated to F channels).

    Output: every node no later node reads (the unused cell inputs included) goes
    through ReLU → its own F×F 1×1-conv slice; the slices' sum → BN back to F.
    `"switch_case"` gathers the loose ends as the original does
    (`combine_gathered_loose_ends`); `"compute_all"` keeps static shapes: all B
    nodes are concatenated and the kernel slices of used nodes are masked to zero
    (`combine_loose_ends`), the same result. Every BN uses batch statistics.

    Args:
        num_nodes: decided nodes per cell (B − 2).
        filters: F, channels of the inputs, of every node and of the output.
        token_layout: a `MicroSpace` or its `token_layout()` dict.
        cell_index: 0 reads the normal-cell half of the arc, 1 the reduction half.
        op_selection: `"compute_all"` (default): per node, one 5×5 separable
            conv with each slot's sampled sep weights (sep3 zero-padded), the two
            pools and identity run for both slots at once, and masks keep the
            sampled op. `"switch_case"`: per (node, slot), `tf.switch_case` runs
            only the sampled op. Measured on 2 CPU cores at the search's size
            (`benchmarks/cifar_micro_step.py`): "switch_case" traces ~3× slower,
            did not finish compiling under XLA in 7 minutes, and steps about as
            fast on sep-only arcs (what the controller's initial op bias samples),
            2× faster on uniform arcs; "compute_all" compiles under XLA.
        weight_sharing: `"fine"` (default, the original code's: per node, slot
            and input) or `"coarse"` (per node and input).
        recompute: if True, the backward pass recomputes the cell's activations
            instead of keeping them from the forward pass (gradient checkpointing per
            cell): the same gradients, less peak memory, a longer step (README,
            "Issue #14, fifth pass").
        sep_conv_recompute: what each sep conv's backward pass recomputes instead of
            keeping (`micro_ops.sep_conv`; ignored with `recompute`): `"none"`
            (default: 6 activations kept), `"elementwise"` (the ReLUs and first BN;
            4 kept) or `"depthwise"` (the depthwise convs too; 2 kept). The same
            gradients; less memory for a longer step (README, "Issue #14, sixth
            pass").
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `[x0, x1]`, calibrated `(B, H, W, filters)` cell inputs.
        arc: int32 `(8 · num_nodes,)` architecture tensor.

    Returns:
        `(B, H, W, filters)`.

    Raises:
        ValueError / TypeError: on a bad `op_selection`, `cell_index`,
            `weight_sharing` or layout.

    Example:
    >>> space = MicroSpace(num_nodes=5)
    >>> cell = SharedMicroCell(5, 4, space)
    >>> cell([tf.zeros((2, 8, 8, 4))] * 2, space.random_arc(0)).shape
    TensorShape([2, 8, 8, 4])
    """

    def __init__(
        self,
        num_nodes,
        filters,
        token_layout,
        cell_index=0,
        op_selection="compute_all",
        weight_sharing="fine",
        recompute=False,
        sep_conv_recompute="none",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if op_selection not in OP_SELECTIONS:
            raise ValueError(
                f"`op_selection` must be one of {OP_SELECTIONS}. "
                f"Received: op_selection={op_selection!r}"
            )
        if weight_sharing not in WEIGHT_SHARINGS:
            raise ValueError(
                f"`weight_sharing` must be one of {WEIGHT_SHARINGS}. "
                f"Received: weight_sharing={weight_sharing!r}"
            )
        if cell_index not in (0, 1):
            raise ValueError(f"`cell_index` must be 0 or 1. Received: cell_index={cell_index}")
        self.num_nodes, self.filters = int(num_nodes), int(filters)
        self.layout = _as_layout(token_layout, self.num_nodes)
        self.cell_index, self.op_selection = int(cell_index), op_selection
        self.weight_sharing, self.recompute = weight_sharing, bool(recompute)
        if sep_conv_recompute not in micro_ops.SEP_CONV_RECOMPUTES:
            raise ValueError(
                f"`sep_conv_recompute` must be one of {micro_ops.SEP_CONV_RECOMPUTES}. "
                f"Received: sep_conv_recompute={sep_conv_recompute!r}"
            )
        self.sep_conv_recompute = sep_conv_recompute
        inputs_per_node = np.arange(2, self.num_nodes + 2)  # node b reads one of b nodes
        slots = 2 if weight_sharing == "fine" else 1  # coarse: slots x, y share rows
        starts = np.concatenate([[0], np.cumsum(slots * inputs_per_node)[:-1]])
        # Bank row of (node j, slot s, input i) = row_offsets[j, s] + i.
        self.row_offsets = np.stack([starts, starts + (slots - 1) * inputs_per_node], 1).astype(
            np.int32
        )
        self.num_rows = int(slots * inputs_per_node.sum())
        self.combine_norm = cell_blocks.BatchStatNorm(name="combine_bn")
        self.build()  # shapes depend only on the arguments

    def build(self, input_shape=None):
        if self.built:
            return
        f, rows = self.filters, self.num_rows
        self.banks = []  # banks[op][stack] = (depthwise, pointwise, gamma, beta)
        for k in SEP_KERNELS:
            self.banks.append(
                [
                    (
                        self.add_weight(
                            shape=(rows, k, k, f),
                            initializer=_he_normal(k * k * f),
                            name=f"sep{k}_{s}_depthwise",
                            autocast=False,
                        ),
                        self.add_weight(
                            shape=(rows, f, f),
                            initializer=_he_normal(f),
                            name=f"sep{k}_{s}_pointwise",
                            autocast=False,
                        ),
                        self.add_weight(
                            shape=(rows, f),
                            initializer="ones",
                            name=f"sep{k}_{s}_gamma",
                            autocast=False,
                        ),
                        self.add_weight(
                            shape=(rows, f),
                            initializer="zeros",
                            name=f"sep{k}_{s}_beta",
                            autocast=False,
                        ),
                    )
                    for s in range(2)
                ]
            )
        self.combine_kernel = self.add_weight(
            shape=(self.num_nodes + 2, f, f), initializer=_he_normal(f), name="combine_kernel"
        )
        self.combine_norm.build((None, None, None, f))
        self.built = True

    def decode_arc(self, arc):
        """`(input_ids, op_ids)`, int32 `(num_nodes, 2)` each: this cell's half of `arc`."""
        arc = tf.cast(tf.convert_to_tensor(arc), tf.int32)
        return (
            tf.gather(arc, self.layout["input_positions"][self.cell_index]),
            tf.gather(arc, self.layout["op_positions"][self.cell_index]),
        )

    def loose_end_mask(self, input_ids):
        """`(B,)` float mask: 1 for nodes no node reads (the cell's output), else 0."""
        used = tf.one_hot(tf.reshape(input_ids, [-1]), self.num_nodes + 2, dtype=self.compute_dtype)
        return 1.0 - tf.reduce_max(used, axis=0)

    def gather_sep_weights(self, input_ids):
        """Every (node, slot)'s rows: `[op][stack]` tuples of `(num_nodes, 2, ...)` tensors."""
        rows = self.row_offsets + input_ids  # (N, 2)
        # The banks do not autocast: `.value` is the float32 tf.Variable, so ResourceGather
        # reads only the selected rows, even under mixed precision; the conv kernels are
        # cast to the compute dtype after the gather, BN's gamma and beta stay float32.
        dtype = self.compute_dtype

        def rows_of(depthwise, pointwise, gamma, beta):
            kernels = (tf.cast(tf.gather(w.value, rows), dtype) for w in (depthwise, pointwise))
            return (*kernels, tf.gather(gamma.value, rows), tf.gather(beta.value, rows))

        return [[rows_of(*stack) for stack in op] for op in self.banks]

    def node_outputs(self, inputs, arc):
        """All `num_nodes + 2` node tensors `(B, H, W, F)`, the two inputs first."""
        input_ids, op_ids = self.decode_arc(arc)
        sep3, sep5 = self.gather_sep_weights(input_ids)
        if self.op_selection == "switch_case":
            return switch_case_nodes(inputs, input_ids, op_ids, sep3, sep5)
        return compute_all_nodes(list(inputs), input_ids, op_ids, sep3, sep5)

    def combine(self, nodes, arc):
        """ReLU → per-node 1×1 conv slices of the loose ends, summed → BN."""
        input_ids, _ = self.decode_arc(arc)
        norm = self.combine_norm
        return combine_loose_ends(
            nodes, input_ids, self.combine_kernel, norm.gamma, norm.beta, norm.epsilon
        )

    def call(self, inputs, arc):
        input_ids, op_ids = self.decode_arc(arc)
        sep3, sep5 = self.gather_sep_weights(input_ids)
        norm = self.combine_norm
        combine = (self.combine_kernel.value, norm.gamma.value, norm.beta.value)

        # Within a recomputed cell the sep convs keep everything: the cell's backward
        # pass holds one cell's activations at a time anyway.
        sep_recompute = "none" if self.recompute else self.sep_conv_recompute

        def cell(floats):  # a pure function of the inputs and gathered weights; the ids
            inputs, sep3, sep5, *combine = floats  # are closed over (no gradient)
            if self.op_selection == "switch_case":
                return traced_switch_case_cell(
                    inputs, input_ids, op_ids, sep3, sep5, *combine, norm.epsilon, sep_recompute
                )
            nodes = compute_all_nodes(inputs, input_ids, op_ids, sep3, sep5, sep_recompute)
            return combine_loose_ends(nodes, input_ids, *combine, norm.epsilon)

        floats = (list(inputs), sep3, sep5, *combine)
        return recomputed(cell, floats) if self.recompute else cell(floats)

    def compute_output_shape(self, input_shape):
        return input_shape[1][:-1] + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "num_nodes": self.num_nodes,
            "filters": self.filters,
            "token_layout": {k: v.tolist() for k, v in self.layout.items()},
            "cell_index": self.cell_index,
            "op_selection": self.op_selection,
            "weight_sharing": self.weight_sharing,
            "recompute": self.recompute,
            "sep_conv_recompute": self.sep_conv_recompute,
        }
