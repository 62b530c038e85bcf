"""Request checks inside exported serving functions, text assets, and the TFLite conversion.

A SavedModel signature checks only the dtype of a request, not its shape: a rank-3 image
batch reaches the convolutions (and aborts the process in a oneDNN kernel), a 64 x 64 one
gets an answer. The serving functions therefore take inputs of unknown shape and run
these checks first; every failed check is an `InvalidArgumentError` whose message says
what was expected (`assertion failed: [<message>] [<received>]`), and no model op runs
before the checks have passed (the model reads its inputs through `guarded`).
"""

import os

import tensorflow as tf

__all__ = [
    "check_shape",
    "check_values",
    "checked_finite",
    "guarded",
    "write_lines",
    "write_tflite",
]


def _shape_ok(shape, dims):
    """Whether the int32 vector `shape` matches `dims` (None: any size >= 1; ints or tensors)."""
    n = len(dims)
    padded = tf.concat([shape, tf.zeros([n], tf.int32)], 0)[:n]  # any rank → n entries
    ok = tf.equal(tf.size(shape), n)
    for i, d in enumerate(dims):
        ok = tf.logical_and(ok, padded[i] >= 1 if d is None else tf.equal(padded[i], d))
    return ok


def check_shape(x, dims, message):
    """An op that fails unless `x` has rank `len(dims)` and sizes `dims` (None: free, ≥ 1).

    Args:
        x: a tensor of any shape.
        dims: the expected sizes (ints or scalar tensors), None where any positive
            size is allowed.
        message: what is expected, e.g. "images must have shape (batch, 32, 32, 3)".

    Returns:
        The assertion op (`InvalidArgumentError` naming the received shape when run).
    """
    shape = tf.shape(x)
    ok = _shape_ok(shape, dims)
    return tf.debugging.Assert(ok, [message, "received shape", shape], summarize=8)


def check_values(condition, message, *data):
    """An op that fails with `message` (and `data`) unless every element of `condition` holds."""
    return tf.debugging.Assert(tf.reduce_all(condition), [message, *data], summarize=8)


def guarded(checks, tensor, dims):
    """`tensor` with static shape `dims`, readable only after every op in `checks` passed."""
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.identity(tensor), dims)


def checked_finite(tensors, message):
    """`tensors` (a dict), released only if all are finite (never a NaN answer)."""
    ok = tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors.values()])
    check = tf.debugging.Assert(ok, [message])
    with tf.control_dependencies([check]):
        return {k: tf.identity(t) for k, t in tensors.items()}


def write_lines(directory, name, lines):
    """Writes `lines` (strings without newlines) one a line to `directory/name`; returns the path.

    Raises:
        ValueError: if a line is empty, holds a line break, or appears twice.
    """
    lines = [str(line) for line in lines]
    bad = [line for line in lines if not line or "\n" in line or "\r" in line]
    if bad or len(set(lines)) != len(lines):
        raise ValueError(
            f"`{name}` entries must be unique, non-empty and on one line. "
            f"Received: {bad[:3] or sorted(line for line in set(lines) if lines.count(line) > 1)[:3]}"
        )
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))
    return path


def write_tflite(concrete_function, variables, path):
    """Converts `concrete_function` to TFLite builtin ops; writes `path`.

    `variables` are the ones the function reads (frozen into constants; a variable
    the function assigns, such as a Keras dropout seed, stays a resource variable).

    Raises:
        ValueError: with the converter's reason, if an op has no TFLite builtin.
    """
    holder = tf.Module()
    holder.model_variables = list(variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], holder)
    converter.experimental_enable_resource_variables = True
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        flatbuffer = converter.convert()
    except Exception as e:  # the converter raises ConverterError with the op list
        raise ValueError(f"TFLite conversion failed: {' '.join(str(e).split())[:600]}") from e
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return path
