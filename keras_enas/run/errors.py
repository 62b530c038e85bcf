"""The run's one-line errors: the programs print them as `<program>: error: <message>`."""


class RunError(RuntimeError):
    """A run cannot go on; the message is one line for the user."""


class DivergenceError(RunError):
    """Training diverged: too many non-finite steps, or non-finite weights to save."""


class CheckpointError(RunError):
    """The workdir's checkpoints exist but none restores."""


__all__ = ["CheckpointError", "DivergenceError", "RunError"]
