"""Recipes: the ready-made uses of hypernetworks, one module each (re-exported at top level)."""

from .continual.learner import ContinualLearner, TaskPrediction
from .hypertab.classifier import HyperTabClassifier

__all__ = ["ContinualLearner", "HyperTabClassifier", "TaskPrediction"]
