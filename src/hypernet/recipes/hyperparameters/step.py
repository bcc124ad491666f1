"""The alternating hyper-step of Lorraine & Duvenaud (2018): move the hyperparameters down the validation loss.

"Stochastic Hyperparameter Optimization through Hypernetworks" trains the hypernetwork on
hyperparameters drawn around the current estimate ``λ̂`` (a *local* best-response
approximation) and, in alternation, takes a gradient step on ``λ̂`` itself:
``λ̂ ← λ̂ - β ∇_λ̂ L_val(w(λ̂))``, the gradient flowing through the generated weights only.
Here ``λ̂`` lives in the unit cube of the sweep's space and the step is Adam's (its state is
kept in buffers of the sweep, so checkpoints and ``resume`` carry it).

Example:
    >>> step = HyperStep(val_loader=[(None, None)], every=5, lr=0.05, width=0.1)
    >>> step.every, step.width
    (5, 0.1)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..._modes import eval_mode
from ..._validation import check_float
from ...errors import ConfigError
from ...training import distributed
from ...training.loop import Callback, TrainState, to_device

if TYPE_CHECKING:
    from .sweep import HyperparameterSweep

__all__ = ["HyperStep"]

BETAS = (0.9, 0.999)
EPS = 1e-8


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
            raise ConfigError(f"expected HyperStep(every=...) to be an int >= 1, got {self.every!r}")
        for name in ("lr", "width"):
            value = getattr(self, name)
            check_float(value, name, low=0, low_open=True, owner="HyperStep", kind="a float > 0")


class HyperStepCallback(Callback):
    """Runs :class:`HyperStep` inside :func:`hypernet.training.fit` (after optimizer steps)."""

    def __init__(self, sweep: HyperparameterSweep, config: HyperStep, device: torch.device | str | None = None) -> None:
        self.sweep = sweep
        self.config = config
        self.device = device
        self.metric = config.metric if config.metric is not None else next(iter(sweep.metrics.values()))
        self._batches: Iterator[Any] = iter(())

    def _next_batch(self) -> Any:
        batch = next(self._batches, None)
        if batch is None:
            self._batches = itertools.chain.from_iterable(itertools.repeat(self.config.val_loader))
            batch = next(self._batches, None)
            if batch is None:
                raise ConfigError("expected HyperStep(val_loader=...) to yield batches, got an empty loader")
        return to_device(batch, self.device)

    def on_fit_start(self, state: TrainState) -> None:
        sweep = self.sweep
        if self.config.start is not None and int(sweep.hyper_steps) == 0:
            with torch.no_grad():
                sweep.center.copy_(sweep.space.to_unit(self.config.start, device=sweep.center.device))
        sweep.local_width = float(self.config.width)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.config.every != 0:
            return
        sweep = self.sweep
        x, y = self._next_batch()
        center = sweep.center.detach().clone().requires_grad_(True)
        with eval_mode(sweep):
            loss = self.metric(sweep(x, unit=center), y)
            (grad,) = torch.autograd.grad(loss, center)
        if distributed.current().world_size > 1:  # every process takes the same step
            mean = distributed.mean_over_ranks({str(i): float(g) for i, g in enumerate(grad)})
            grad = torch.tensor([mean[str(i)] for i in range(grad.numel())], dtype=grad.dtype, device=grad.device)
        with torch.no_grad():
            sweep.hyper_steps += 1
            t = int(sweep.hyper_steps)
            sweep.hyper_m.mul_(BETAS[0]).add_(grad, alpha=1 - BETAS[0])
            sweep.hyper_v.mul_(BETAS[1]).addcmul_(grad, grad, value=1 - BETAS[1])
            m_hat = sweep.hyper_m / (1 - BETAS[0] ** t)
            v_hat = sweep.hyper_v / (1 - BETAS[1] ** t)
            sweep.center.sub_(self.config.lr * m_hat / (v_hat.sqrt() + EPS)).clamp_(0, 1)
        hp = {k: float(v) for k, v in sweep.space.from_unit(sweep.center).items()}
        sweep.hyper_history_.append({"step": float(state.step), **hp, "val_loss": float(loss.detach())})

    def on_fit_end(self, state: TrainState) -> None:
        self.sweep.local_width = None
