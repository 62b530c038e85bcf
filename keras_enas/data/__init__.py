"""Data pipelines (PTB and CIFAR-10); only `bin/` and tests import this package."""

__all__ = []
