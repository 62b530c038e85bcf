"""Choice layers and the inferred schema: errors, defined behaviour, the macro space rewritten."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_enas as ke
from keras_enas.search_spaces import MacroSpace


def conv(filters=4, k=3):
    return keras.layers.Conv2D(filters, k, padding="same")


def test_unnamed_choice_is_an_error():
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        ke.OpChoice([conv()])
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        ke.InputChoice()


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="`num_chosen` must be an int >= 1 or None"):
        ke.InputChoice(num_chosen=0, name="x")
    with pytest.raises(ValueError, match="needs a fixed `num_chosen`"):
        ke.InputChoice(num_chosen=None, reduction="concat", name="x")
    with pytest.raises(ValueError, match="`candidates` must be a non-empty list"):
        ke.OpChoice([], name="x")
    with pytest.raises(TypeError, match="Each candidate must be a keras Layer"):
        ke.OpChoice([3], name="x")
    inp = keras.Input((8, 8, 2))
    with pytest.raises(ValueError, match="same output shape"):
        ke.OpChoice([conv(4), conv(5)], name="x")(inp)
    with pytest.raises(ValueError, match="must have one shape"):
        ke.InputChoice(name="y")([conv(4)(inp), conv(5)(inp)])


def test_nested_and_duplicate_choices_are_errors():
    inp = keras.Input((8, 8, 2))
    inner = keras.Sequential([ke.OpChoice([conv()], name="inner")])
    model = keras.Model(inp, ke.OpChoice([inner, conv()], name="outer")(inp))
    with pytest.raises(ValueError, match="nested in a candidate of OpChoice 'outer'"):
        ke.space_of(model)

    class Twice(keras.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = ke.OpChoice([conv()], name="c"), ke.OpChoice([conv()], name="c")

        def call(self, x):
            return self.b(self.a(x))

    twice = Twice()
    twice(np.zeros((1, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match="duplicates: \\['c'\\]"):
        ke.space_of(twice)


def test_input_choice_reductions_and_architecture_round_trip():
    a, b, c = (np.full((2, 3), v, "float32") for v in (1.0, 2.0, 4.0))
    inputs = [keras.Input((3,)) for _ in range(3)]
    outs = [
        ke.InputChoice(num_chosen=None, reduction="mean", name="subset")(inputs),
        ke.InputChoice(num_chosen=2, reduction="concat", name="pair")(inputs),
    ]
    model = keras.Model(inputs, outs)
    space = ke.space_of(model)
    assert space.arc_length == 5 and list(space.num_choices) == [2, 2, 2, 3, 3]
    arc = ke.set_architecture(model, {"subset": [0, 2], "pair": [2, 0]})
    assert space.decode(arc).to_dict() == {"subset": [0, 2], "pair": [2, 0]}
    mean, pair = model([a, b, c])
    np.testing.assert_allclose(mean, np.full((2, 3), 2.5))
    np.testing.assert_allclose(pair, np.concatenate([c, a], -1))
    ke.set_architecture(model, {"subset": [], "pair": [1, 1]})
    np.testing.assert_allclose(model([a, b, c])[0], 0.0)
    with pytest.raises(ValueError, match="Missing: \\['pair'\\]"):
        space.encode({"subset": [0]})


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.block = ke.OpChoice(
            [keras.layers.Dense(4, activation="relu"), keras.layers.Dense(4, activation="tanh")],
            name="block",
        )
        self.head = keras.layers.Dense(2, activation="softmax")

    def call(self, x):
        return self.head(self.block(x))


def test_subclassed_model_searches_but_cannot_be_fixed():
    model = Subclassed()
    x, y = np.random.rand(64, 3).astype("float32"), np.random.randint(0, 2, 64)
    model(x[:1])
    search = ke.ENAS(
        model,
        loss="sparse_categorical_crossentropy",
        controller={"train_steps": 1, "num_aggregate": 1},
        reward_batch_size=16,
    )
    search.fit(x, y, validation_data=(x, y), batch_size=16, epochs=1, verbose=0)
    assert search.best_architecture(num_samples=3)["block"] in (0, 1)
    with pytest.raises(TypeError, match="functional or Sequential supernet"):
        ke.fixed_model(model, {"block": 0})


def macro_with_choices(num_layers, filters=4):
    """The ENAS macro space (ENAS §2.3) written with OpChoice / InputChoice."""
    inp = keras.Input((8, 8, 3))
    stem = conv(filters)(inp)
    nodes, prev = [stem], stem
    for k in range(num_layers):
        ops = [
            conv(filters, 3),
            keras.layers.SeparableConv2D(filters, 3, padding="same"),
            conv(filters, 5),
            keras.layers.SeparableConv2D(filters, 5, padding="same"),
            keras.layers.AveragePooling2D(3, 1, padding="same"),
            keras.layers.MaxPooling2D(3, 1, padding="same"),
        ]
        out = ke.OpChoice(ops, name=f"layer{k}_op")(prev)
        if k > 0:  # skip bits to stem, o0 .. o{k-2}
            skips = ke.InputChoice(num_chosen=None, name=f"layer{k}_skips")(nodes[:k])
            out = keras.layers.Add()([out, skips])
        nodes.append(out)
        prev = out
    return keras.Model(inp, prev)


@pytest.mark.parametrize("num_layers", [3, 6])
def test_macro_space_written_with_choices_has_the_same_schema(num_layers):
    space, macro = ke.space_of(macro_with_choices(num_layers)), MacroSpace(num_layers)
    assert space.arc_length == macro.arc_length
    np.testing.assert_array_equal(space.num_choices, macro.num_choices)
    kinds = [type(s).__name__ for s in space.steps if type(s).__name__ != "AnchorStep"]
    assert kinds == [type(s).__name__ for s in macro.steps if type(s).__name__ != "AnchorStep"]


def test_compute_all_equals_switch_case_and_masks_gradients():
    inp = keras.Input((6,))
    choice = ke.OpChoice(
        [keras.layers.Dense(3), keras.layers.Dense(3, activation="relu")], name="dense"
    )
    model = keras.Model(inp, choice(inp))
    x = np.random.default_rng(0).random((4, 6)).astype("float32")
    for index in (0, 1):
        ke.set_architecture(model, {"dense": index})
        choice.op_selection = "switch_case"
        expected = model(x)
        choice.op_selection = "compute_all"
        with tf.GradientTape() as tape:
            out = model(x)
        grads = tape.gradient(out, choice.candidates[1 - index].trainable_weights)
        np.testing.assert_allclose(out, expected, atol=1e-6)
        assert all(g is None or not np.any(g) for g in grads)


@pytest.mark.parametrize("with_weights", [True, False])
def test_weightless_candidates_run_masked_and_give_the_selected_op(with_weights):
    """Pooling candidates run outside the switch_case (masked); the value and the input
    gradient are still exactly the selected candidate's, in graph mode."""
    pools = [
        keras.layers.MaxPooling2D(3, 1, padding="same"),
        keras.layers.AveragePooling2D(3, 1, padding="same"),
    ]
    conv = [keras.layers.Conv2D(4, 3, padding="same")] if with_weights else []
    choice = ke.OpChoice(conv + pools, name="op")
    x = tf.random.stateless_normal((2, 6, 6, 4), seed=(5, 6))
    choice(x)  # build

    @tf.function
    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = choice(x)
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, x)

    for i, candidate in enumerate(choice.candidates):
        choice.selection.assign(i)
        y, g = value_and_grad(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            expected = candidate(x)
            loss = tf.reduce_sum(expected * expected)
        g_expected = tape.gradient(loss, x)
        np.testing.assert_allclose(y, expected, atol=1e-6)
        np.testing.assert_allclose(g, g_expected, atol=1e-5)
    assert value_and_grad.experimental_get_tracing_count() == 1
