"""keras_enas: Efficient Neural Architecture Search (Pham et al., ICML 2018) in Keras 3.

The public API is loaded lazily, so that `keras_enas.search_spaces` (pure Python)
imports without TensorFlow.

Example:

```python
import keras_enas
space = keras_enas.RNNCellSpace(num_nodes=8)
print(space.decode(space.parse("0 2 1 0 2 1 2 2 4 0 5 0 3 2")))
```
"""

import importlib

__version__ = "0.1.0"

_API = {
    "RNNCellSpace": "keras_enas.search_spaces.rnn",
    "Controller": "keras_enas.controller",
    "ControllerTrainer": "keras_enas.reinforce",
    "SharedRNNLM": "keras_enas.models.shared_rnn_lm",
    "SharedRNNCell": "keras_enas.layers.shared_rnn_cell",
    "ENASSearch": "keras_enas.search.enas",
    "PTBSearch": "keras_enas.tasks.ptb.search_model",
    "ControllerPhase": "keras_enas.search.callbacks",
    "ResetStates": "keras_enas.tasks.ptb.callbacks",
    "build_ptb_search": "keras_enas.tasks.ptb.search",
    "run_ptb_search": "keras_enas.tasks.ptb.search",
    "derive": "keras_enas.search.derive",
    "load_search": "keras_enas.search.load",
    "register_space": "keras_enas.search_spaces.registry",
    "SpaceSpec": "keras_enas.search_spaces.registry",
    "PTBSearchConfig": "keras_enas.config",
    "ControllerConfig": "keras_enas.config",
    "OpChoice": "keras_enas.choices",
    "InputChoice": "keras_enas.choices",
    "ENAS": "keras_enas.search.user",
    "UserSearchConfig": "keras_enas.config.user",
    "load_user_search": "keras_enas.search.user",
    "fixed_model": "keras_enas.fixed",
    "set_architecture": "keras_enas.search.user_schema",
    "space_of": "keras_enas.search.user_schema",
    "UserSpace": "keras_enas.search_spaces.user",
    "write_report": "keras_enas.report",
    "rank_correlation": "keras_enas.search.rank",
}

# The public API (loaded lazily through `__getattr__`); tests/public_api_test.py keeps it
# equal to `_API`.
__all__ = [
    "build_ptb_search",
    "Controller",
    "ControllerConfig",
    "ControllerPhase",
    "ControllerTrainer",
    "derive",
    "ENAS",
    "ENASSearch",
    "fixed_model",
    "InputChoice",
    "load_search",
    "load_user_search",
    "OpChoice",
    "PTBSearch",
    "PTBSearchConfig",
    "rank_correlation",
    "register_space",
    "ResetStates",
    "RNNCellSpace",
    "run_ptb_search",
    "set_architecture",
    "SharedRNNCell",
    "SharedRNNLM",
    "space_of",
    "SpaceSpec",
    "UserSearchConfig",
    "UserSpace",
    "write_report",
]


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'keras_enas' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__():
    return sorted(list(globals()) + list(_API))
