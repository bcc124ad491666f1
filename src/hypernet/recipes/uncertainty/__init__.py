"""Noise-conditioned hypernetworks: a distribution over weights and its predictive uncertainty."""

from .predictive import (
    KINDS,
    Contrast,
    NoiseStep,
    Predictive,
    Reliability,
    auroc,
    contrast_inputs,
    draw_disagreement,
    entropy,
    expected_calibration_error,
    mutual_information,
    negative_log_likelihood,
    predictive,
    reliability,
    weight_diversity,
)

__all__ = [
    "KINDS",
    "Contrast",
    "NoiseStep",
    "Predictive",
    "Reliability",
    "auroc",
    "contrast_inputs",
    "draw_disagreement",
    "entropy",
    "expected_calibration_error",
    "mutual_information",
    "negative_log_likelihood",
    "predictive",
    "reliability",
    "weight_diversity",
]
