"""The ENAS search loop: the only package that sees both the child and the controller."""

__all__ = []
