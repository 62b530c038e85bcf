"""The CIFAR-10 task: CNN search (macro, micro), final training, evaluation and export."""

__all__ = []
