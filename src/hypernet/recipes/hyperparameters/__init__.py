"""Hyperparameter-conditioned training: one model over a range of hyperparameters (Lorraine & Duvenaud; MIP)."""

from .sweep import (
    DEFAULT_METRICS,
    Curve,
    DataLoss,
    HyperparameterSpace,
    HyperparameterSweep,
    HyperStep,
    HyperStepCallback,
    LogUniform,
    LossFn,
    MetricFn,
    Range,
    Uniform,
    accuracy,
    adam,
    cross_entropy,
    evaluate_module,
)

__all__ = [
    "DEFAULT_METRICS",
    "Curve",
    "DataLoss",
    "HyperStep",
    "HyperStepCallback",
    "HyperparameterSpace",
    "HyperparameterSweep",
    "LogUniform",
    "LossFn",
    "MetricFn",
    "Range",
    "Uniform",
    "accuracy",
    "adam",
    "cross_entropy",
    "evaluate_module",
]
