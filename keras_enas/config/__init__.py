"""Experiment configuration: frozen dataclasses, the ONLY home of default values.

Every field carries its help text (`cli.py` turns fields into flags) and is
validated in `__post_init__`. Defaults follow the paper (ENAS §3 and
enas-reference.md §10); small CPU settings live in `configs/*.flags`. One module
per task: `search.py` (controller and search loop, shared), `ptb.py` (recurrent-cell
search), `cifar.py` (CIFAR-10 search and final
training), `ptb_final.py` (training a found cell).
"""

from keras_enas.config.ptb import PTBSearchConfig, RNNChildConfig
from keras_enas.config.search import ControllerConfig, SearchConfig

__all__ = ["ControllerConfig", "PTBSearchConfig", "RNNChildConfig", "SearchConfig"]
