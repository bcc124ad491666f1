"""Hyperparameter-conditioned training: one model over a range of hyperparameters (Lorraine & Duvenaud; MIP)."""

from .._common import DEFAULT_METRICS, MetricFn, accuracy, cross_entropy, evaluate_module
from .sweep import (
    Curve,
    HyperparameterSpace,
    HyperparameterSweep,
    HyperStep,
    LogUniform,
    LossFn,
    Range,
    Uniform,
)

__all__ = [
    "DEFAULT_METRICS",
    "Curve",
    "HyperStep",
    "HyperparameterSpace",
    "HyperparameterSweep",
    "LogUniform",
    "LossFn",
    "MetricFn",
    "Range",
    "Uniform",
    "accuracy",
    "cross_entropy",
    "evaluate_module",
]
