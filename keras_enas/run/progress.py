"""`Progress`: a line every N seconds with steps done, ms/step and the ETA of the epoch and run."""

import time

import keras
from absl import logging

__all__ = ["format_seconds", "Progress"]


def format_seconds(seconds):
    """`3725.2` → `"1h02m05s"`, `65` → `"1m05s"`, `7.3` → `"7s"`."""
    seconds = round(max(0.0, float(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress(keras.callbacks.Callback):
    """Logs progress within each epoch every `every_secs` seconds, and a closing line.

    A line reads `epoch 2/6 step 40/100  212 ms/step  epoch ETA 13s  run ETA 1m20s`.
    The first training step of the run includes tracing (and compiling) the step
    functions; it is reported on its own line ("first step (tracing) took …") and kept
    out of ms/step. The run ETA adds the remaining epochs at the mean wall time of the
    finished ones (which includes validation and the controller phase), or, before any
    epoch has finished, at `steps × ms/step`.

    Args:
        every_secs: seconds between progress lines (0 disables the in-epoch lines; the
            tracing and end-of-epoch lines are still written).
        print_fn: where lines go (default `absl.logging.info`).

    Raises:
        ValueError: if `every_secs < 0`.

    Example:

    ```python
    model.fit(ds, epochs=6, steps_per_epoch=100, callbacks=[Progress(every_secs=30)])
    ```
    """

    def __init__(self, every_secs=30.0, print_fn=None):
        super().__init__()
        if not every_secs >= 0:
            raise ValueError(f"`every_secs` must be >= 0. Received: every_secs={every_secs}")
        self.every_secs = float(every_secs)
        self.print_fn = print_fn or logging.info
        self._epoch_times = []
        self._traced = False

    def on_train_begin(self, logs=None):
        self._epoch_times, self._traced = [], False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start = epoch, time.time()
        self._last_line = self._epoch_start
        self._timed_steps, self._timed_seconds = 0, 0.0
        self._step_start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        now = time.time()
        if not self._traced:  # the first step traces and compiles the step function
            self._traced = True
            self.print_fn(
                f"epoch {self._epoch + 1}: first step (tracing) took {now - self._step_start:.1f} s"
            )
        elif self._step_start is not None:
            self._timed_steps += 1
            self._timed_seconds += now - self._step_start
        if self.every_secs and self._timed_steps and now - self._last_line >= self.every_secs:
            self._last_line = now
            self.print_fn(self._line(batch + 1))

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self._epoch_start
        self._epoch_times.append(seconds)
        remaining = self._epochs() - epoch - 1
        mean = sum(self._epoch_times) / len(self._epoch_times)
        self.print_fn(
            f"epoch {epoch + 1}/{self._epochs()} done in {format_seconds(seconds)}"
            f"  run ETA {format_seconds(remaining * mean)}"
        )

    def ms_per_step(self):
        """Mean wall time of this epoch's timed steps, in ms (None before any)."""
        return 1000 * self._timed_seconds / self._timed_steps if self._timed_steps else None

    def _epochs(self):
        return (self.params or {}).get("epochs") or 1

    def _line(self, done):
        steps, ms = (self.params or {}).get("steps"), self.ms_per_step()
        line = f"epoch {self._epoch + 1}/{self._epochs()} step {done}/{steps or '?'}"
        if ms is None:
            return line
        line += f"  {ms:.0f} ms/step"
        if steps:
            epoch_eta = (steps - done) * ms / 1000
            remaining = self._epochs() - self._epoch - 1
            if self._epoch_times:
                per_epoch = sum(self._epoch_times) / len(self._epoch_times)
            else:
                per_epoch = steps * ms / 1000
            line += (
                f"  epoch ETA {format_seconds(epoch_eta)}"
                f"  run ETA {format_seconds(epoch_eta + remaining * per_epoch)}"
            )
        return line
