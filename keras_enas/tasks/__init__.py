"""The tasks (PTB, CIFAR-10): each one's search, final training, evaluation and export.

Both tasks use the same module names for the same roles: `search.py` (`build_*_search`,
`run_*_search`, `load_*_search`), `search_model.py` (the `ENASSearch` subclass),
`train.py` (`run_*_training`), `evaluate.py`, `export.py` and `architecture.py` (which
architecture to train; no TensorFlow). Nothing is imported here.
"""

__all__ = []
