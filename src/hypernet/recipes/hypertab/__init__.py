"""HyperTab: a hypernetwork-generated ensemble of feature-subset networks, as a scikit-learn estimator."""

from .classifier import EXPECTED_FAILED_CHECKS, PREDICT_ROWS, HyperTabClassifier
from .masks import FeatureMasks, MaskBatch, sample_masks
from .validation import (
    NotFittedError,
    TabularInputError,
)

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "PREDICT_ROWS",
    "FeatureMasks",
    "HyperTabClassifier",
    "MaskBatch",
    "NotFittedError",
    "TabularInputError",
    "sample_masks",
]
