"""The machine a benchmark ran on, for its JSON report (these machines are shared and noisy)."""

import os
import platform


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, or "unknown"."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return "unknown"


def machine():
    """CPU model, core count, TensorFlow and Python versions, and the 1-minute load average."""
    import tensorflow as tf

    return {
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0],
    }
