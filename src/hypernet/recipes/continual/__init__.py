"""Continual learning with a task-conditioned hypernetwork (von Oswald et al., 2020)."""

from .learner import (
    RECIPE,
    ROWS_PER_CALL,
    ContinualLearner,
    Loaders,
    TaskPrediction,
    accuracy_matrix,
    backward_transfer,
    predictive_entropy,
)

__all__ = [
    "RECIPE",
    "ROWS_PER_CALL",
    "ContinualLearner",
    "Loaders",
    "TaskPrediction",
    "accuracy_matrix",
    "backward_transfer",
    "predictive_entropy",
]
