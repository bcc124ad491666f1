"""The alternating hyper-step of Lorraine & Duvenaud (2018): move the hyperparameters down the validation loss.

"Stochastic Hyperparameter Optimization through Hypernetworks" trains the hypernetwork on
hyperparameters drawn around the current estimate ``λ̂`` (a *local* best-response
approximation) and, in alternation, takes a gradient step on ``λ̂`` itself:
``λ̂ ← λ̂ - β ∇_λ̂ L_val(w(λ̂))``, the gradient flowing through the generated weights only.
Here ``λ̂`` lives in the unit cube of the sweep's space and the step is Adam's (its state is
kept in buffers of the sweep, so checkpoints and ``resume`` carry it). The step itself runs in
:class:`~hypernet.recipes.hyperparameters.sweep.HyperStepCallback`; this module holds its settings.

Example:
    >>> step = HyperStep(val_loader=[(None, None)], every=5, lr=0.05, width=0.1)
    >>> step.every, step.width
    (5, 0.1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..._boundary import guarded
from ..._validation import check_float
from ...errors import ConfigError

__all__ = ["HyperStep"]

BETAS = (0.9, 0.999)
EPS = 1e-8


@guarded()
@dataclass
class HyperStep:
    """Settings of the joint optimisation of hyperparameters (pass to :meth:`HyperparameterSweep.fit`).

    Args:
        val_loader: batches ``(x, y)`` of validation data; cycled.
        every: take a hyper-step after every ``every`` training steps.
        lr: Adam learning rate of the hyperparameters, in unit-cube coordinates.
        width: std of the Gaussian (in unit-cube coordinates, clipped to ``[0, 1]``) that training
            draws hyperparameters from around the current estimate.
        start: the initial estimate ``{name: value}`` (default: the middle of every range).
        metric: ``metric(output, y) -> scalar`` to minimise (default: the sweep's first metric).
    """

    val_loader: Iterable[Any]
    every: int = 10
    lr: float = 0.05
    width: float = 0.1
    start: Mapping[str, float] | float | None = None
    metric: Callable[[Any, Any], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ConfigError(f"expected HyperStep(every=...) to be an int >= 1, got {self.every!r}; pass e.g. every=10")
        for name in ("lr", "width"):
            value = getattr(self, name)
            check_float(value, name, low=0, low_open=True, owner="HyperStep", kind="a float > 0")
