"""SavedModel (and TFLite) export of a final CIFAR-10 network: raw pixels in, classes out."""

import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_enas.layers.standardize import Standardize
from keras_enas.run import files, records
from keras_enas.tasks import serving
from keras_enas.tasks.cifar.architecture import architecture_record

__all__ = ["export_cifar_model", "SIGNATURES"]

SIGNATURES = ("serving_default", "serve_float")
CLASS_NAMES_FILE = "class_names.txt"
TFLITE_FILE = "model.tflite"


class _Parts:
    """What the serving functions capture, kept out of the SavedModel's object graph."""

    def __init__(self, model, standardize, names):
        self.model, self.standardize, self.names = model, standardize, names


class _Serving(tf.Module):
    """The serving functions; holds the model's variables as plain `tf.Variable`s."""

    def __init__(self, model, mean, std, class_names, names_file):
        super().__init__(name="keras_enas_cifar")
        self.model_variables = [v.value for v in model.variables]
        self.class_names_file = tf.saved_model.Asset(names_file)  # → assets/class_names.txt
        # Not attributes: a tracked Keras object would make the SavedModel need Keras.
        self._parts = _Parts(model, Standardize(mean, std), tf.constant(list(class_names)))
        self.dims = (None, *model.inputs[0].shape[1:])
        h, w, c = self.dims[1:]
        self.expected = f"images must have shape (batch, {h}, {w}, {c}) with at least one image"
        # Unknown shapes: the checks below, not the signature, refuse a bad one (see serving).
        self.serve = tf.function(self._uint8, input_signature=[tf.TensorSpec(None, tf.uint8)])
        self.serve_float = tf.function(
            self._float, input_signature=[tf.TensorSpec(None, tf.float32)]
        )

    def probabilities(self, images):
        """float32 softmax `(B, K)` of raw pixels `(B, H, W, C)` (no checks: TFLite)."""
        outputs = self._parts.model(self._parts.standardize(images), training=False)
        logits = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        return tf.nn.softmax(logits, axis=-1)

    def _answer(self, images, checks):
        probabilities = self.probabilities(serving.guarded(checks, images, self.dims))
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)  # (B,)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": tf.gather(self._parts.names, class_id),
        }

    def _uint8(self, images):
        return self._answer(images, [serving.check_shape(images, self.dims, self.expected)])

    def _float(self, images):
        shape = serving.check_shape(images, self.dims, self.expected)
        with tf.control_dependencies([shape]):
            finite = serving.check_values(
                tf.math.is_finite(images), "images must be finite (no NaN or infinity)"
            )
            in_range = serving.check_values(
                (images >= 0.0) & (images <= 255.0),
                "images must hold raw pixel values in 0..255; received min and max",
                tf.reduce_min(images),
                tf.reduce_max(images),
            )
        return self._answer(images, [shape, finite, in_range])


def export_cifar_model(
    model, export_dir, mean, std, space, arc, extra=None, class_names=None, tflite=False
):
    """Exports a fixed CNN as a SavedModel that serves without Keras or keras_enas.

    The training split's standardisation is baked in, so callers pass raw pixels
    in 0..255. Signatures (also attributes `serve`, `serve_float` of the loaded
    object):

    - `serving_default(images uint8 (B, H, W, 3))` → `{"probabilities": (B, K),
      "class_id": int32 (B,), "class_name": string (B,)}` (the most probable class);
    - `serve_float(images float32 (B, H, W, 3), values in 0..255)` → the same.

    A request of another shape (rank, size, channels, B = 0), dtype, or with float
    pixels outside 0..255 or not finite is refused with `InvalidArgumentError`.
    `assets/class_names.txt` holds the class names (line k: class k),
    `architecture.json` the arc, its decoding, the statistics and `extra`, beside
    the drawing of the architecture; `tflite=True` also writes `model.tflite`
    (uint8 images `(B, H, W, 3)` → probabilities `(B, K)`, no request checks).

    Args:
        model: the functional model (logits first when it has several outputs).
        export_dir: the SavedModel directory.
        mean, std: per-channel statistics of the training split (scale [0, 1]).
        space, arc: the architecture.
        extra: optional dict merged into `architecture.json` (e.g. final accuracy).
        class_names: K names in class order (default: "0", "1", ...).
        tflite: whether to write `model.tflite` too.

    Returns:
        `export_dir`.

    Raises:
        ValueError: if `class_names` does not hold K unique one-line names.

    Example:
    >>> export_cifar_model(model, "runs/final/export", mean, std, space, arc)  # doctest: +SKIP
    >>> served = tf.saved_model.load("runs/final/export")  # no keras_enas needed
    >>> served.signatures["serving_default"](images=uint8_images)["class_name"]  # doctest: +SKIP
    """
    logits = model.outputs[0] if isinstance(model.outputs, (list, tuple)) else model.outputs
    num_classes = logits.shape[-1]
    class_names = [str(i) for i in range(num_classes)] if class_names is None else class_names
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` must hold the model's {num_classes} classes. "
            f"Received {len(class_names)}: {list(class_names)[:12]}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        names_file = serving.write_lines(tmp, CLASS_NAMES_FILE, class_names)
        module = _Serving(model, mean, std, class_names, names_file)
        signatures = {
            "serving_default": module.serve.get_concrete_function(),
            "serve_float": module.serve_float.get_concrete_function(),
        }
        tf.saved_model.save(module, export_dir, signatures=signatures)
    if tflite:
        lite = tf.function(lambda images: {"probabilities": module.probabilities(images)})
        lite = lite.get_concrete_function(tf.TensorSpec(module.dims, tf.uint8, name="images"))
        serving.write_tflite(lite, module.model_variables, os.path.join(export_dir, TFLITE_FILE))
    _write_record(export_dir, model, mean, std, space, arc, class_names, extra)
    return export_dir


def _write_record(export_dir, model, mean, std, space, arc, class_names, extra):
    """`architecture.json` (what the export serves) and the drawing."""
    h, w, c = model.inputs[0].shape[1:]
    record = {
        **architecture_record(space, arc),
        "inputs": f"images (B, {h}, {w}, {c}), uint8 (serving_default) or float32 "
        "(serve_float), raw pixel values 0..255; standardisation is built in",
        "outputs": f"probabilities (B, {len(class_names)}), class_id (B,), class_name (B,)",
        "class_names": list(class_names),
        "mean": np.asarray(mean, np.float32).tolist(),
        "std": np.asarray(std, np.float32).tolist(),
        **(extra or {}),
    }
    files.write_json(os.path.join(export_dir, records.ARCHITECTURE_FILE), record)
    records.draw_architecture(export_dir, space, arc)
