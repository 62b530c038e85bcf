"""Quiet start-up: TensorFlow's C++ start-up lines are hidden unless `--verbosity` asks.

TensorFlow 2.21 logs its start-up lines (oneDNN, CUDA stubs, CPU features) through Abseil
C++ logging before it is initialised, once per shared library, so `TF_CPP_MIN_LOG_LEVEL`
does not reach them. A program's `main()` therefore sets `TF_CPP_MIN_LOG_LEVEL=2` before
TensorFlow is imported and filters those lines out of the process's stderr (file descriptor
2, which C++ writes to). No TensorFlow here: this runs before it is imported.
"""

import atexit
import logging
import os
import re
import sys
import threading

__all__ = ["StderrFilter", "TensorFlowInfoFilter", "is_startup_noise", "quiet_tensorflow"]

_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+\.(cc|h):\d+\] .*"  # C++ INFO / WARNING
    r"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+\.cc:\d+\] "
    r"(failed call to cuInit|Unable to register cu\w+ factory).*"  # no GPU, duplicate plugins
    r"|To enable the following instructions: .* rebuild TensorFlow .*"
)


def is_startup_noise(line):
    """Whether `line` (str, newline allowed) is one of TensorFlow's C++ start-up lines.

    Python's own absl log lines (`I1205 ... file.py:12] ...`) are never noise.
    """
    return _NOISE.fullmatch(line.rstrip("\r\n")) is not None


class StderrFilter:
    """Copies file descriptor 2 through a pipe, dropping lines for which `drop(line)` holds.

    Everything written to stderr (Python, C++, child processes) passes through a reader
    thread in order; `stop()` (also registered with `atexit`) restores the descriptor and
    writes out what is left.

    Args:
        drop: callable taking one decoded line, True to drop it.
    """

    def __init__(self, drop=is_startup_noise):
        self.drop, self._saved, self._thread = drop, None, None

    def start(self):
        """Redirects fd 2 through the filter; returns self."""
        sys.stderr.flush()
        self._saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    def _pump(self, read_fd):
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                if not self.drop(line.decode("utf-8", errors="replace")):
                    os.write(self._saved, line)

    def stop(self):
        """Restores fd 2 and waits until every line written so far is out."""
        if self._saved is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # the pipe's last writer is gone: the reader sees its end
        self._thread.join(timeout=10)
        os.close(self._saved)
        self._saved = None


class TensorFlowInfoFilter(logging.Filter):
    """Drops INFO and DEBUG records logged from TensorFlow's own Python files through absl
    (e.g. "Sharding callback duration" at every checkpoint); keeps warnings and errors."""

    _TF_DIR = f"{os.sep}tensorflow{os.sep}"

    def filter(self, record):
        return record.levelno >= logging.WARNING or self._TF_DIR not in record.pathname


def quiet_tensorflow(verbosity):
    """Hides TensorFlow's start-up noise and INFO lines unless `verbosity` ≥ 1 (absl DEBUG).

    Sets `TF_CPP_MIN_LOG_LEVEL` (an explicit value in the environment is kept), hides the
    INFO records of TensorFlow's Python code (its `tensorflow` logger and its absl calls) and
    filters stderr (`StderrFilter`). Call it before TensorFlow is imported.

    Args:
        verbosity: absl's `--verbosity` (0 = INFO, the default after parsing; 1 = DEBUG).

    Returns:
        The started `StderrFilter`, or None when the noise is wanted.
    """
    if verbosity >= 1:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("absl").addFilter(TensorFlowInfoFilter())  # e.g. one line per checkpoint
    return StderrFilter().start()
