"""`ControllerPhase`: the Keras callback that runs the search's θ phase at every epoch end."""

import time

import keras
from absl import logging

from keras_enas import marginals as marginals_lib
from keras_enas.run import faults

__all__ = ["ControllerPhase"]


class ControllerPhase(keras.callbacks.Callback):
    """Runs `search.controller_phase` at the end of each epoch and adds its figures.

    The figures go into the epoch's `logs` (prefixed `controller_`), so callbacks that
    run later (CSVLogger, TensorBoard, `JsonlLogger`) record them. The last sampled
    arcs and their rewards are logged and kept in `self.samples`; with
    `num_marginal_samples`, the controller's per-decision marginals after the phase
    (`keras_enas.marginals.controller_marginals`) are kept in `self.marginals`.

    Args:
        num_updates: θ updates per phase; None reads `search.controller_updates`.
        every: run the phase every this many epochs.
        num_logged: sampled arcs to print with their rewards.
        num_marginal_samples: arcs the marginals are estimated from (0: none).
    """

    def __init__(
        self,
        num_updates: int | None = None,
        every: int = 1,
        num_logged: int = 10,
        num_marginal_samples: int = 0,
    ) -> None:
        super().__init__()
        self.num_updates, self.every, self.num_logged = num_updates, every, num_logged
        self.num_marginal_samples = num_marginal_samples
        self.samples, self.marginals = [], None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if (epoch + 1) % self.every:
            return
        start = time.time()
        updates = self.num_updates
        if updates is None:
            updates = getattr(self.model, "controller_updates", 1)
        faults.point("controller")
        phase_logs, self.samples = self.model.controller_phase(updates, self.num_logged)
        for key, value in phase_logs.items():
            logs["controller_" + key] = value
        if self.num_marginal_samples and self.model.strategy == "enas":
            self.marginals = marginals_lib.controller_marginals(
                self.model, self.num_marginal_samples
            )
        logs["controller_seconds"] = time.time() - start
        space = self.model.space
        for arc, reward in self.samples:
            logging.info("epoch %d  reward=%.4f  arc=%s", epoch + 1, reward, space.format_arc(arc))
