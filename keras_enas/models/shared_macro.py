"""`SharedMacroCNN`: the shared-weight CIFAR-10 network of the macro search (the child)."""

import keras
import tensorflow as tf

from keras_enas.layers import cell_blocks
from keras_enas.layers.cell_blocks import FactorizedReduction
from keras_enas.layers.cell_blocks import conv2d as conv
from keras_enas.layers.shared_macro_layer import SharedMacroLayer, batch_norm

__all__ = ["SharedMacroCNN"]


class SharedMacroCNN(keras.Model):
    """Every macro network of a `MacroSpace`, with weights shared per (layer, op) (ENAS §2.3).

    stem (3×3 conv + BN) → L `SharedMacroLayer`s → global average pool → dropout →
    FC (no bias). Layer k applies its sampled op to the previous output and, for
    k > 0, adds the skip inputs its arc bits select and batch-norms the sum:
    `BN(op(o_{k-1}) + Σ_j bit_j · node_j)`, bit j ↔ node j, node 0 = the stem
    (reference §2(b)). The sum runs over every earlier node with a 0/1 weight, so
    shapes are static and one trace serves every arc. After each layer in
    `space.pool_layers` every tensor kept so far (the stem included) passes through
    its own `FactorizedReduction`; the width stays F throughout the search.

    Batch norm: each (layer, op) owns its batch norms, and each layer owns the BN
    after its skip sum; training steps use batch statistics, evaluation (the
    controller's reward) the moving averages, as the original macro search does.
    The skip-sum BN's averages mix every arc that was sampled.

    Args:
        space: a `MacroSpace`.
        filters: width F (36 in the paper's search).
        dropout: dropout rate before the FC layer (1 − keep_prob; 0.1 in the search).
        num_classes: number of classes.
        seed: int seed of the dropout masks.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: float32 `(B, H, W, 3)` standardised images.
        arc: int32 `(arc_length,)` architecture tensor.
        training: whether to use batch statistics and dropout.

    Returns:
        `(logits (B, num_classes), None)`: the macro network has no auxiliary head.

    Example:
    >>> space = MacroSpace(num_layers=3)
    >>> cnn = SharedMacroCNN(space, filters=4)
    >>> logits, _ = cnn(tf.zeros((2, 8, 8, 3)), space.random_arc(0))
    >>> logits.shape
    TensorShape([2, 10])
    """

    def __init__(self, space, filters=36, dropout=0.1, num_classes=10, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not hasattr(space, "token_layout") or getattr(space, "name", None) != "macro":
            raise TypeError(f"`space` must be a MacroSpace. Received: {space!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        self.space, self.filters, self.num_classes = space, filters, num_classes
        layout = space.token_layout()
        self._op_positions, self._skip_positions = layout["op_positions"], layout["skip_positions"]
        self.stem_conv, self.stem_bn = conv(filters, 3, name="stem"), batch_norm("stem_bn")
        self.op_layers = [
            SharedMacroLayer(filters, name=f"layer{k}") for k in range(space.num_layers)
        ]
        self.skip_bns = [batch_norm(f"layer{k}_skip_bn") for k in range(1, space.num_layers)]
        self.reductions = [
            [FactorizedReduction(filters, name=f"pool{p}_from{j}") for j in range(p + 2)]
            for p in space.pool_layers
        ]
        self.dropout = keras.layers.Dropout(dropout, seed=seed)
        self.fc = keras.layers.Dense(
            num_classes, use_bias=False, kernel_initializer="he_normal", name="fc"
        )

    def build(self, images_shape):
        # Every variable is created here, before any trace meets a switch_case.
        batch, height, width = images_shape[0], images_shape[1], images_shape[2]
        self.stem_conv.build(images_shape)
        shape = (batch, height, width, self.filters)
        self.stem_bn.build(shape)
        stage = 0
        for k, layer in enumerate(self.op_layers):
            layer.build(shape)
            if k > 0:
                self.skip_bns[k - 1].build(shape)
            if k in self.space.pool_layers:
                for reduction in self.reductions[stage]:
                    reduction.build(shape)
                shape = (batch, (shape[1] + 1) // 2, (shape[2] + 1) // 2, self.filters)
                stage += 1
        self.fc.build((batch, self.filters))

    def nodes(self, images, arc, training=False):
        """The network's node tensors after the last layer: `[stem, o0, ..., o{L-1}]`.

        Each has been through every reduction that followed it, so all share the
        last stage's shape `(B, H', W', F)`.
        """
        arc = tf.convert_to_tensor(arc, tf.int32)
        ops = tf.gather(arc, self._op_positions)  # (L,)
        prev = [self.stem_bn(self.stem_conv(images), training=training)]
        stage = 0
        for k, layer in enumerate(self.op_layers):
            out = layer(prev[-1], ops[k], training=training)
            if k > 0:  # ENAS §2.3 skips: BN(op + Σ_j bit_j · node_j), node 0 = stem
                bits = tf.cast(tf.gather(arc, self._skip_positions[k, :k]), out.dtype)  # (k,)
                out = tf.add_n([out] + [bits[j] * prev[j] for j in range(k)])
                out = self.skip_bns[k - 1](out, training=training)
            prev.append(out)
            if k in self.space.pool_layers:
                prev = [r(t, training=training) for r, t in zip(self.reductions[stage], prev)]
                stage += 1
        return prev

    def call(self, images, arc, training=False):
        x = tf.reduce_mean(self.nodes(images, arc, training)[-1], axis=[1, 2])  # no ReLU first
        return self.fc(self.dropout(x, training=training)), None

    def l2_penalty(self, arc):
        """Σw² over the weights `arc` uses: the sampled ops' and every always-used weight.

        Unsampled ops get zero gradient from it (ENAS §2.2: ω's gradient reaches only
        the weights the child uses). Batch-norm γ/β count, as in the original's L2.
        """
        arc = tf.convert_to_tensor(arc, tf.int32)
        ops = tf.gather(arc, self._op_positions)
        shared = [
            w
            for w in self.trainable_weights
            if not any(w is v for layer in self.op_layers for v in layer.trainable_weights)
        ]
        total = cell_blocks.sum_of_squares(shared)
        return total + tf.add_n(
            [layer.l2_penalty(ops[k]) for k, layer in enumerate(self.op_layers)]
        )

    def op_weights(self, layer, op):
        """The trainable weights of op id `op` at `layer` (for inspection and tests)."""
        return self.op_layers[layer].branch_weights(int(op))
