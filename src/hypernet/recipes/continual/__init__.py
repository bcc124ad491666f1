"""Continual learning with a task-conditioned hypernetwork (von Oswald et al., 2020)."""

from .learner import (
    RECIPE,
    ROWS_PER_CALL,
    ContinualLearner,
    KeepRows,
    Loaders,
    OutputRegularizer,
    TaskPrediction,
    accuracy_matrix,
    as_mapping,
    backward_transfer,
    batch_xy,
    evaluate_loader,
    predictive_entropy,
)

__all__ = [
    "RECIPE",
    "ROWS_PER_CALL",
    "ContinualLearner",
    "KeepRows",
    "Loaders",
    "OutputRegularizer",
    "TaskPrediction",
    "accuracy_matrix",
    "as_mapping",
    "backward_transfer",
    "batch_xy",
    "evaluate_loader",
    "predictive_entropy",
]
