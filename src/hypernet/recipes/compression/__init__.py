"""Static hypernetworks (Ha et al.): a model's weights generated from far fewer parameters."""

from .compress import (
    SIZE_ARGS,
    Compressed,
    Data,
    compress,
    default_lr,
    static_hypernet,
    train_classifier,
    trainable_parameters,
)

__all__ = [
    "SIZE_ARGS",
    "Compressed",
    "Data",
    "compress",
    "default_lr",
    "static_hypernet",
    "train_classifier",
    "trainable_parameters",
]
