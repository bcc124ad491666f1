"""HyperTab: a hypernetwork-generated ensemble of feature-subset networks, as a scikit-learn estimator."""

from .classifier import EXPECTED_FAILED_CHECKS, PREDICT_ROWS, HyperTabClassifier, torch_threads
from .masks import FeatureMasks, MaskBatch, sample_masks
from .validation import (
    NotFittedError,
    TabularInputError,
    check_class_counts,
    check_finite,
    check_float,
    check_int,
    class_weights,
    hidden_sizes,
    subset_size,
)

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "PREDICT_ROWS",
    "FeatureMasks",
    "HyperTabClassifier",
    "MaskBatch",
    "NotFittedError",
    "TabularInputError",
    "check_class_counts",
    "check_finite",
    "check_float",
    "check_int",
    "class_weights",
    "hidden_sizes",
    "sample_masks",
    "subset_size",
    "torch_threads",
]
