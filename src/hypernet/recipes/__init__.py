"""Recipes: the ready-made uses of hypernetworks, one module each (re-exported at top level)."""

from .hypertab import HyperTabClassifier

__all__ = ["HyperTabClassifier"]
