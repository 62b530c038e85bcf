"""`load_search`: reopen a finished or stopped search from its working directory."""

import os
from typing import Any

from absl import logging

from keras_enas.run import workdir as workdir_lib
from keras_enas.search import runner
from keras_enas.search_spaces import registry

__all__ = ["load_search"]


def load_search(workdir: str | os.PathLike, **kwargs: Any) -> Any:
    """Rebuilds a search from `<workdir>/config.json` and restores its newest checkpoint.

    No data are read: the sizes the data gave the run (vocabulary, image shape,
    statistics) come from `<workdir>/run_info.json`. The space's registered loader
    (`SpaceSpec.loader`) rebuilds the search; then the shared weights, the controller,
    both optimizers, the baseline and the seed states are restored.

    Args:
        workdir: the working directory of a `search_ptb` / `search_cifar10` run (or of
            any search whose space registers a loader).
        **kwargs: passed to the space's loader (e.g. `model=` for a user space); the
            built-in spaces take none.

    Returns:
        The search (an `ENASSearch`: `.space`, `.controller`, `.child`, `.trainer`), with
        `.config` set to the run's config and `.epochs_done` to the epochs it finished.

    Raises:
        FileNotFoundError: if `workdir` holds no `config.json`.
        ValueError: if its space is unknown or registers no loader, or the run info the
            loader needs is missing.

    Example:
    >>> search = keras_enas.load_search("runs/ptb_cpu")  # doctest: +SKIP
    >>> search.space.decode(search.sample_arc().numpy())  # doctest: +SKIP
    """
    config = workdir_lib.read_config(workdir)
    name = config.get("search_space", "ptb_rnn")  # the PTB config has one space
    spec = registry.get_spec(name)
    loader = spec.resolve("loader")
    if loader is None:
        raise ValueError(
            f"The {name!r} search space registers no loader (SpaceSpec.loader), "
            "so its searches cannot be reopened."
        )
    config, search = loader(workdir, config, workdir_lib.read_run_info(workdir), **kwargs)
    manager = workdir_lib.checkpoint_manager(workdir, **runner.search_trackables(search))
    if not workdir_lib.restore_latest(manager):
        logging.warning("No checkpoint in %s: the search is returned untrained.", workdir)
    search.config = config
    return search
