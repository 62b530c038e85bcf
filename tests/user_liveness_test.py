"""A choice the arc cuts off from the output is not computed, and the result is unchanged."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_enas as ke


class CountingConv(keras.layers.Conv2D):
    """A Conv2D that counts the times its call actually runs (in-graph)."""

    def build(self, input_shape):
        super().build(input_shape)
        self.calls = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="calls"
        )

    def call(self, x):
        self.calls.assign_add(1)
        return super().call(x)


def build_supernet(num_chosen):
    """h0 -> block (2 counting convs) ; output reads a choice of [h0, block, h0 * 2]."""
    inp = keras.Input((8, 8, 3))
    h0 = keras.layers.Conv2D(4, 1)(inp)
    block = ke.OpChoice(
        [CountingConv(4, 1, name="conv1"), CountingConv(4, 3, padding="same", name="conv3")],
        name="block",
    )(h0)
    h2 = keras.layers.Rescaling(2.0)(h0)
    pick = ke.InputChoice(num_chosen=num_chosen, reduction="sum", name="pick")([h0, block, h2])
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(pick))
    return keras.Model(inp, out)


# (arc, whether `block` reaches the output): arc = [block op, pick tokens...]
CASES = {
    1: [([1, 0], False), ([1, 1], True), ([0, 2], False)],
    None: [([1, 1, 0, 1], False), ([0, 0, 1, 0], True), ([1, 0, 0, 0], False)],
    2: [([0, 0, 2], False), ([1, 2, 1], True), ([0, 1, 1], True)],
}


@pytest.mark.parametrize("num_chosen", [1, None, 2])
def test_dead_choice_is_skipped_and_result_equals_fixed_model(num_chosen):
    keras.utils.set_random_seed(0)
    supernet = build_supernet(num_chosen)
    search = ke.ENAS(
        supernet, loss="mse", reward=lambda y, p: -tf.reduce_mean((y - p) ** 2), strategy="random"
    )
    block = supernet.get_layer("block")
    x = tf.random.stateless_normal((5, 8, 8, 3), seed=(1, 2))
    y = tf.random.stateless_normal((5, 3), seed=(3, 4))
    step = tf.function(search.child_train_step)
    forward = tf.function(lambda arc: search._forward(x, arc, False))
    for arc, live in CASES[num_chosen]:
        arc = np.asarray(arc, np.int32)
        fixed = ke.fixed_model(supernet, arc, copy_weights=True)
        before = [c.calls.numpy() for c in block.candidates]
        np.testing.assert_allclose(forward(tf.constant(arc)), fixed(x), atol=1e-5)
        kernels = [c.kernel.numpy() for c in block.candidates]
        step(x, y, tf.constant(arc))
        runs = [c.calls.numpy() - b for c, b in zip(block.candidates, before)]
        chosen = int(arc[0])
        # The forward pass and the training step each run a live block once; a dead one never.
        assert runs[chosen] == (2 if live else 0), (arc, runs)
        assert runs[1 - chosen] == 0, (arc, runs)
        trained = not np.array_equal(kernels[chosen], block.candidates[chosen].kernel.numpy())
        assert trained == live, (arc, "dead block was trained" if trained else "not trained")
    assert step.experimental_get_tracing_count() == 1
    assert forward.experimental_get_tracing_count() == 1


def test_subclassed_model_runs_every_choice():
    """No graph to analyse: every choice is live, the search still works."""

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = ke.OpChoice([keras.layers.Dense(4), keras.layers.Dense(4)], name="b")
            self.pick = ke.InputChoice(num_chosen=1, name="p")
            self.head = keras.layers.Dense(2)

        def call(self, x):
            return self.head(self.pick([x, self.block(x)]))

    net = Net()
    net(tf.zeros((1, 4)))
    search = ke.ENAS(net, loss="mse", reward=lambda y, p: -tf.reduce_mean(p), strategy="random")
    assert search._liveness.op_choices == []
    loss = search.child_train_step(tf.ones((2, 4)), tf.ones((2, 2)), tf.constant([1, 0]))
    assert np.isfinite(loss.numpy())
