"""Helpers shared by several recipes: the default classification metrics, their evaluation loop, the default optimizer.

Example:
    >>> import torch
    >>> from torch import nn
    >>> x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    >>> sorted(evaluate_module(nn.Linear(3, 2), [(x[:6], y[:6]), (x[6:], y[6:])], DEFAULT_METRICS))
    ['acc', 'loss']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._boundary import guarded_function
from .._validation import check_float
from ..errors import ConfigError
from ..training.loop import to_device

MetricFn = Callable[[Any, Any], torch.Tensor]


@guarded_function
def cross_entropy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits ``output`` against class labels ``y``."""
    return F.cross_entropy(output, y)


@guarded_function
def accuracy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose arg-max logit is the label."""
    return (output.argmax(-1) == y).float().mean()


DEFAULT_METRICS: dict[str, MetricFn] = {"loss": cross_entropy, "acc": accuracy}


@torch.no_grad()
@guarded_function
def evaluate_module(
    forward: Callable[[Any], Any], loader: Iterable[Any], metrics: Mapping[str, MetricFn], device: torch.device | str | None = None
) -> dict[str, float]:
    """Sample-weighted means of ``metrics`` of ``forward(x)`` over the ``(x, y)`` batches of ``loader``."""
    totals = dict.fromkeys(metrics, 0.0)
    count = 0
    for batch in loader:
        x, y = to_device(batch, device)
        out = forward(x)
        n = len(y)
        for name, fn in metrics.items():
            totals[name] += float(fn(out, y)) * n
        count += n
    if count == 0:
        raise ConfigError("expected a validation loader with at least one sample, got an empty one; pass a loader over validation data")
    return {k: v / count for k, v in totals.items()}


def adam(module: nn.Module, lr: float) -> torch.optim.Adam:
    """The recipes' default optimizer: Adam over ``module``'s parameters (``lr`` checked)."""
    check_float(lr, "lr", low=0, low_open=True, kind="a float > 0")
    return torch.optim.Adam(module.parameters(), lr=lr, foreach=True)
