"""Recipes: the ready-made uses of hypernetworks, one module each (re-exported at top level)."""

from .continual import ContinualLearner, TaskPrediction
from .hypertab import HyperTabClassifier

__all__ = ["ContinualLearner", "HyperTabClassifier", "TaskPrediction"]
