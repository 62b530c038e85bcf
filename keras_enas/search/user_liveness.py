"""Which `OpChoice` layers of a functional supernet reach its output for a given arc.

An `InputChoice` that does not pick an input cuts that input off; a block whose every
path to the model's output is cut this way is *dead* for the arc: the fixed model of the
arc does not contain it, so the shared model need not compute it either (ENAS §2.2: only
the sampled child is trained). `liveness` evaluates this in-graph from the arc tensor, so
one trace still serves every arc; `OpChoice` then runs a zeros branch instead of a
candidate when its flag is false.

Only the top-level choices of a functional model are analysed; a subclassed model (whose
graph is not visible) or a choice inside a nested model is treated as always live.
"""

import keras
import tensorflow as tf

from keras_enas.choices import InputChoice, OpChoice

__all__ = ["Liveness"]


def _functional_nodes(model):
    """`model`'s nodes from the outputs towards the inputs, or None if not functional."""
    by_depth = getattr(model, "_nodes_by_depth", None)
    if isinstance(model, keras.Sequential) or not by_depth:
        return None
    return [node for depth in sorted(by_depth) for node in by_depth[depth]]


def _producer(tensor):
    history = tensor._keras_history
    return history.operation._inbound_nodes[history.node_index]


class Liveness:
    """Evaluates, in-graph, which `OpChoice` layers of a functional model are live.

    Args:
        model: the supernet.
        slots: `[(layer, first arc position, number of tokens)]` (`user_schema.slots`).
    """

    def __init__(self, model, slots):
        self._nodes = _functional_nodes(model)
        self._outputs = keras.tree.flatten(model.outputs) if self._nodes is not None else []
        self._slots = {id(layer): (start, count) for layer, start, count in slots}
        self.op_choices = []
        if self._nodes is not None:
            self.op_choices = [
                node.operation
                for node in self._nodes
                if isinstance(node.operation, OpChoice) and id(node.operation) in self._slots
            ]
            self.op_choices = list({id(op): op for op in self.op_choices}.values())

    def _edge(self, node, position, arc):
        """Whether input `position` of `node` reaches it: None, True or a bool tensor."""
        layer = node.operation
        if not isinstance(layer, InputChoice) or id(layer) not in self._slots:
            return True
        start, count = self._slots[id(layer)]
        if layer.num_chosen is None:  # one on/off bit per input
            return tf.not_equal(arc[start + position], 0)
        return tf.reduce_any(tf.equal(arc[start : start + count], position))

    def __call__(self, arc):
        """`{id(OpChoice layer): scalar bool tensor}` for the choices that can be dead."""
        if not self.op_choices:
            return {}
        # id(node) -> True | bool tensor; absent = not reached (dead). Consumers come
        # before producers in `_nodes`, so a node's flag is final when it is reached.
        live = {id(_producer(t)): True for t in self._outputs}
        for node in self._nodes:
            here = live.get(id(node))
            if here is None:
                continue
            for position, tensor in enumerate(node.arguments.keras_tensors):
                edge = _and(here, self._edge(node, position, arc))
                key = id(_producer(tensor))
                live[key] = _or(live.get(key), edge)
        result = {}
        for layer in self.op_choices:
            flag = None
            for node in layer._inbound_nodes:
                if id(node) in live:  # nodes of this model only
                    flag = _or(flag, live[id(node)])
            if flag is not True:
                result[id(layer)] = tf.constant(False) if flag is None else flag
        return result


def _and(a, b):
    if a is True:
        return b
    if b is True:
        return a
    return tf.logical_and(a, b)


def _or(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a is True or b is True:
        return True
    return tf.logical_or(a, b)
