"""Hyperparameter-conditioned training: one model over a range of hyperparameters (Lorraine & Duvenaud; MIP)."""

from .._common import DEFAULT_METRICS, MetricFn, accuracy, adam, cross_entropy, evaluate_module
from .sweep import (
    Curve,
    DataLoss,
    HyperparameterSpace,
    HyperparameterSweep,
    HyperStep,
    HyperStepCallback,
    LogUniform,
    LossFn,
    Range,
    Uniform,
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
