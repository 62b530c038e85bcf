"""The programs: one module per command (`search_ptb`, `train_cifar10`, ...), each with `main()`.

`pyproject.toml` installs each `main()` as a console script of the same name, and the files in
`bin/` are thin wrappers that call it. Flags are defined inside `main()`, never at import time.
"""

__all__ = []
