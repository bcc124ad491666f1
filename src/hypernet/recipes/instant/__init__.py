"""Instant classifiers: a small classifier's weights from a labelled support set in one forward pass."""

from .classifier import (
    WEIGHTS,
    ClassWeightGenerator,
    Episode,
    ImageEpisodes,
    InstantClassifier,
    Layers,
    SyntheticTabularTasks,
    TaskSampler,
    conv4,
)

__all__ = [
    "WEIGHTS",
    "ClassWeightGenerator",
    "Episode",
    "ImageEpisodes",
    "InstantClassifier",
    "Layers",
    "SyntheticTabularTasks",
    "TaskSampler",
    "conv4",
]
