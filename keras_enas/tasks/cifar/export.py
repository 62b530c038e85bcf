"""SavedModel export of a final CIFAR-10 network: raw pixels in, class probabilities out."""

import os

import numpy as np
import tensorflow as tf

from keras_enas.layers.standardize import Standardize
from keras_enas.run import files, records
from keras_enas.tasks.cifar.architecture import architecture_record

SIGNATURES = ("serving_default", "serve_float")


class _Serving(tf.Module):
    """The serving functions; holds the model's variables as plain `tf.Variable`s."""

    def __init__(self, model, mean, std):
        super().__init__(name="keras_enas_cifar")
        self.model_variables = [v.value for v in model.variables]
        standardize = Standardize(mean, std)  # constants only: nothing to track
        shape = [None, *model.inputs[0].shape[1:]]

        def probabilities(images):
            outputs = model(standardize(images), training=False)
            logits = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            return {"probabilities": tf.nn.softmax(logits, axis=-1)}

        self.serve = tf.function(
            probabilities, input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")]
        )
        self.serve_float = tf.function(
            probabilities, input_signature=[tf.TensorSpec(shape, tf.float32, name="images")]
        )


def export_cifar_model(model, export_dir, mean, std, space, arc, extra=None):
    """Exports a fixed CNN as a SavedModel that serves without Keras or keras_enas.

    The training split's standardisation is baked in, so callers pass raw pixels
    in 0..255. Signatures (also attributes `serve`, `serve_float` of the loaded
    object):

    - `serving_default(images uint8 (B, 32, 32, 3))` → `{"probabilities": (B, 10)}`;
    - `serve_float(images float32 (B, 32, 32, 3), values in 0..255)` → the same.

    `architecture.json` (the arc, its decoding, the statistics, `extra`) and the
    drawing of the architecture are written into `export_dir`.

    Args:
        model: the functional model (logits first when it has several outputs).
        export_dir: the SavedModel directory.
        mean, std: per-channel statistics of the training split (scale [0, 1]).
        space, arc: the architecture.
        extra: optional dict merged into `architecture.json` (e.g. final accuracy).

    Returns:
        `export_dir`.

    Example:
    >>> export_cifar_model(model, "runs/final/export", mean, std, space, arc)  # doctest: +SKIP
    >>> served = tf.saved_model.load("runs/final/export")  # no keras_enas needed
    >>> served.signatures["serving_default"](images=uint8_images)["probabilities"]  # doctest: +SKIP
    """
    module = _Serving(model, mean, std)
    signatures = {
        "serving_default": module.serve.get_concrete_function(),
        "serve_float": module.serve_float.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    record = {
        **architecture_record(space, arc),
        "inputs": "images (B, 32, 32, 3), uint8 (serving_default) or float32 "
        "(serve_float), raw pixel values 0..255; standardisation is built in",
        "outputs": "probabilities (B, 10), softmax over the CIFAR-10 classes",
        "mean": np.asarray(mean, np.float32).tolist(),
        "std": np.asarray(std, np.float32).tolist(),
        **(extra or {}),
    }
    files.write_json(os.path.join(export_dir, records.ARCHITECTURE_FILE), record)
    records.draw_architecture(export_dir, space, arc)
    return export_dir
