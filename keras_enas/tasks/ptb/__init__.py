"""The PTB language-model task: cell search, final training, evaluation and export."""

__all__ = []
