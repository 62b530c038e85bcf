"""Run plumbing shared by every search and final training: workdir, checkpoints, logs, records.

`keras_enas.run.records` and `keras_enas.run.files` import no TensorFlow, so that programs
can check an architecture file before loading it.
"""

__all__ = []
