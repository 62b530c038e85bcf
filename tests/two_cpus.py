"""Runs a program's `main()` with the CPU split into two logical devices.

`python tests/two_cpus.py search_cifar10 --flagfile=... --distribution_strategy=mirrored`
gives `MirroredStrategy` two replicas on one CPU, as a two-GPU machine would: logical
devices must be configured before TensorFlow initialises its devices, so this runs
before the program imports anything else.
"""

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

if __name__ == "__main__":
    program = importlib.import_module(f"keras_enas.programs.{sys.argv[1]}")
    sys.argv = [sys.argv[1], *sys.argv[2:]]
    program.main()
