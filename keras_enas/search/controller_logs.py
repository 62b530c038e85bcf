"""TensorBoard views of what the controller learned: per-decision heat maps and histograms."""

import keras
import numpy as np
import tensorflow as tf

from keras_enas import marginals as marginals_lib
from keras_enas import marginals_plot

__all__ = ["MarginalsTensorBoard"]


class MarginalsTensorBoard(keras.callbacks.Callback):
    """Writes the controller's marginals to TensorBoard after each controller phase.

    Per decision group (`marginals.heatmap_groups`: op choices by vocabulary, input
    choices, skip bits): a heat-map image (row = decision, column = choice), a
    histogram of the group's probabilities, and the scalar mean over the group's
    decisions of the largest probability (1 / choices when uniform, 1 when decided).

    Args:
        log_dir: directory of the summary writer (e.g. `<workdir>/tensorboard/controller`).
        source: an object whose `marginals` attribute holds the latest `Marginals`
            (None: nothing to write), e.g. the `ControllerPhase` callback.
        images: also write the heat-map images (matplotlib rendering, ~0.1 s each).

    Example:

    ```python
    phase = ControllerPhase(num_marginal_samples=256)
    search.fit(ds, callbacks=[phase, MarginalsTensorBoard("tb/controller", phase)])
    ```
    """

    def __init__(self, log_dir, source, images=True):
        super().__init__()
        self.log_dir, self.source, self.images = log_dir, source, images
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        marginals = getattr(self.source, "marginals", None)
        if marginals is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        space = self.model.space
        groups = marginals_lib.heatmap_groups(space.steps, marginals, space.sample_order)
        with self._writer.as_default(step=epoch + 1):
            for name, (rows, matrix) in groups.items():
                tag = name.replace(" ", "_")
                values = matrix[np.isfinite(matrix)]
                tf.summary.histogram(f"marginals/{tag}", values)
                if name == "skips":
                    tf.summary.scalar(f"marginals/{tag}_mean_p_on", float(values.mean()))
                else:
                    tf.summary.scalar(
                        f"marginals/{tag}_mean_max_p", float(np.nanmax(matrix, axis=1).mean())
                    )
                if self.images:
                    fig = marginals_plot.heatmap_figure(
                        rows,
                        matrix,
                        f"{name}, epoch {epoch + 1}",
                        marginals_plot.column_label(name),
                    )
                    png = marginals_plot.figure_png(fig)
                    tf.summary.image(f"heatmap/{tag}", tf.image.decode_png(png)[None])
            tf.summary.scalar("marginals/entropy", marginals.entropy())
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
