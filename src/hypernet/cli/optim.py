"""Optimizers from the ``train:`` section of a config."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .schema import TrainSection


def make_optimizer(params: Iterable[torch.nn.Parameter], train: TrainSection) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD over the parameters that require gradients.

    Example:
        >>> from torch import nn
        >>> make_optimizer(nn.Linear(2, 2).parameters(), TrainSection(optimizer="sgd", lr=0.1)).__class__.__name__
        'SGD'
    """
    trainable = [p for p in params if p.requires_grad]
    if train.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)
    cls = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
    return cls(trainable, lr=train.lr, weight_decay=train.weight_decay)
