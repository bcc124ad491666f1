"""Supervised classification on the shared training loop: the step function, a trainer and an error rate.

Used by the compression and uncertainty recipes and their benchmarks, so that plain
networks and hypernetworks are trained by exactly the same code
(:func:`hypernet.training.fit`, Adam, a one-cycle learning-rate schedule).

Example:
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(256, 4); y = (x[:, 0] > 0).long()
    >>> net = nn.Linear(4, 2)
    >>> result = train_classifier(net, (x, y), epochs=5, batch_size=32, lr=0.05)
    >>> error_rate(net, x, y) < 0.1
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from ..._boundary import guarded_function
from ..._model import HyperModel
from ...errors import ConfigError, describe
from ...training import FitResult, fit, make_loader
from ...training.loop import Callback, StepFn

Data = Dataset[Any] | tuple[torch.Tensor, torch.Tensor]


def classification_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
    """Cross-entropy of ``model(x)`` against ``y``, with the batch accuracy as a metric."""
    x, y = batch
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(-1) == y).float().mean()}


def as_dataset(data: Data) -> Dataset[Any]:
    """A ``Dataset`` from a dataset or an ``(x, y)`` pair of tensors with the same first dimension."""
    if isinstance(data, tuple):
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data) or data[0].shape[:1] != data[1].shape[:1]:
            raise ConfigError(
                f"expected training data as a Dataset or a pair (x, y) of tensors with N rows each, got {describe(data)}; "
                "pass (x, y) with as many labels as inputs"
            )
        return TensorDataset(*data)
    if not isinstance(data, Dataset):
        raise ConfigError(
            f"expected training data as a Dataset or a pair (x, y) of tensors, got {describe(data)}; pass (x, y) or a torch Dataset"
        )
    return data


@guarded_function
def train_classifier(
    model: nn.Module,
    data: Data,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 3e-3,
    shared_lr: float | None = None,
    weight_decay: float = 0.0,
    seed: int = 0,
    step: StepFn = classification_step,
    callbacks: tuple[Callback, ...] = (),
    **fit_kwargs: Any,
) -> FitResult:
    """Train ``model``'s trainable parameters with Adam and a one-cycle schedule on :func:`~hypernet.training.fit`.

    Args:
        model: any module; only parameters with ``requires_grad`` are optimised.
        data: a ``Dataset`` of ``(x, y)`` or a pair of tensors.
        epochs, batch_size, lr, weight_decay: the optimisation; ``lr`` is the schedule's peak.
        shared_lr: for a :class:`~hypernet.HyperModel`, the peak learning rate of the
            target's own trainable (not generated) parameters; ``None``: ``lr`` for all.
        seed: the loader's shuffling seed.
        step: the step function (default: cross-entropy with accuracy).
        callbacks, fit_kwargs: passed to :func:`~hypernet.training.fit` (e.g. ``run_dir``, ``evaluate``).

    Returns:
        The :class:`~hypernet.training.FitResult`; ``model`` is left in eval mode.
    """
    loader = make_loader(as_dataset(data), batch_size, seed=seed)
    groups = _param_groups(model, lr, shared_lr)
    optimizer = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    total = max(1, epochs * len(loader))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in groups], total_steps=total)
    fit_kwargs.setdefault("progress", False)
    result = fit(model, step, loader, optimizer, epochs=epochs, scheduler=scheduler, callbacks=callbacks, **fit_kwargs)
    model.eval()
    return result


def _param_groups(model: nn.Module, lr: float, shared_lr: float | None) -> list[dict[str, Any]]:
    """One group of trainable parameters, or two for a HyperModel with ``shared_lr``: the hypernetwork's and the target's own."""
    params = [p for p in model.parameters() if p.requires_grad]
    target = getattr(model, "target", None)
    if shared_lr is None or not isinstance(model, HyperModel) or not isinstance(target, nn.Module):
        return [{"params": params, "lr": lr}]
    own = {id(p) for p in target.parameters() if p.requires_grad}
    groups = [
        {"params": [p for p in params if id(p) not in own], "lr": lr},
        {"params": [p for p in params if id(p) in own], "lr": shared_lr},
    ]
    return [g for g in groups if g["params"]]


@torch.no_grad()
def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``model`` (in eval mode) misclassifies."""
    model.eval()
    wrong = sum(int((model(x[i : i + batch_size]).argmax(-1) != y[i : i + batch_size]).sum()) for i in range(0, len(x), batch_size))
    return wrong / max(1, len(x))
