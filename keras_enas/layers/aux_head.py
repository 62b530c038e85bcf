"""`AuxHead`: the auxiliary classifier of the micro networks (reference §2(c))."""

import keras
import tensorflow as tf

from keras_enas.layers import cell_blocks

__all__ = ["AuxHead"]


@keras.saving.register_keras_serializable(package="keras_enas")
class AuxHead(keras.layers.Layer):
    """ReLU → avg-pool 5×5/3 VALID → 1×1 conv 128 + BN + ReLU → conv over the
    remaining map to 768 + BN + ReLU → global average pool → FC (no bias).

    It sits after cell `pool_layers[-1] + 1` (8×8 maps on CIFAR-10, so the pool
    leaves 2×2 and the second conv has a 2×2 kernel, "SAME" padded as in
    `micro_child.py`). On maps smaller than 5×5 (tiny test images) the pool window
    shrinks to the map. Unlike the original, whose aux-head variables are left out
    of the optimizer (reference §6.7), these are ordinary trainable weights.

    Args:
        num_classes: logits per example.
        batch_stats: use `BatchStatNorm` (search) instead of Keras BN.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        x: `(B, H, W, C)`, the output of the cell the head follows.

    Returns:
        `(B, num_classes)` auxiliary logits.
    """

    def __init__(self, num_classes=10, batch_stats=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.batch_stats = int(num_classes), bool(batch_stats)
        self.proj = cell_blocks.conv2d(128, name="proj_conv")
        self.proj_norm = cell_blocks.make_norm(self.batch_stats, name="proj_bn")
        self.pool_norm = cell_blocks.make_norm(self.batch_stats, name="avg_pool_bn")
        self.fc = keras.layers.Dense(
            self.num_classes, use_bias=False, kernel_initializer="he_normal", name="fc"
        )

    def build(self, input_shape):
        self.pool_size = min(5, input_shape[1], input_shape[2])
        pooled = (input_shape[1] - self.pool_size) // 3 + 1
        self.pool_conv = cell_blocks.conv2d(768, kernel_size=pooled, name="avg_pool_conv")
        self.proj.build((input_shape[0], pooled, pooled, input_shape[-1]))
        self.proj_norm.build((input_shape[0], pooled, pooled, 128))
        self.pool_conv.build((input_shape[0], pooled, pooled, 128))
        self.pool_norm.build((input_shape[0], pooled, pooled, 768))
        self.fc.build((input_shape[0], 768))

    def call(self, x, training=None):
        x = tf.nn.avg_pool2d(tf.nn.relu(x), self.pool_size, 3, "VALID")
        x = tf.nn.relu(self.proj_norm(self.proj(x), training=training))
        x = tf.nn.relu(self.pool_norm(self.pool_conv(x), training=training))
        return self.fc(tf.reduce_mean(x, axis=[1, 2]))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "batch_stats": self.batch_stats,
        }
