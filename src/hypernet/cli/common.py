"""Helpers shared by the recipes' CLI entries: the bundled data, the ``fit`` arguments of a config, ``--cond`` parsing.

Example:
    >>> from hypernet.cli.config import TrainSection
    >>> parse_int_cond("2", 3, "a task id")
    2
    >>> parse_float_cond("1e-3", "an L2 strength")
    0.001
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..training.errors import UsageError
from .registry import RunContext
from .schema import RunConfig


def digits(seed: int, test_fraction: float = 0.25) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (bundled, no download), pixels scaled to ``[0, 1]``: ``x_train, y_train, x_test, y_test``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(range(len(y)), test_size=test_fraction, random_state=seed, stratify=bunch.target)
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


def fit_options(config: RunConfig, ctx: RunContext, **extra: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`hypernet.training.fit` that a config's ``train:`` section and the run context set."""
    t = config.train
    return {
        "epochs": t.epochs,
        "max_steps": t.max_steps,
        "eval_every": t.eval_every,
        "run_dir": ctx.run_dir,
        "config": config.model_dump(mode="json"),
        "checkpoint_every": t.checkpoint_every,
        "keep_last": t.keep_last,
        "resume": ctx.resume,
        "progress": ctx.progress,
        "log_every": t.log_every,
        "grad_clip": t.grad_clip,
        "device": ctx.dist.device,
        **extra,
    }


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *args: Any) -> dict[str, float]:
    """Cross-entropy and accuracy of ``model(x, *args)`` on ``(x, y)``, without gradients."""
    with torch.no_grad():
        logits = model(x, *args)
    return {"loss": float(nn.functional.cross_entropy(logits, y)), "acc": float((logits.argmax(-1) == y).float().mean())}


def parse_int_cond(text: str | None, n: int, what: str) -> int:
    """``--cond`` as an int in ``0..n-1``; a :class:`~hypernet.training.UsageError` saying so otherwise."""
    if text is None or not text.strip().isdigit() or not 0 <= int(text) < n:
        raise UsageError(f"expected --cond to be {what} 0..{n - 1}, got {text!r}; pass e.g. --cond 0")
    return int(text)


def parse_float_cond(text: str | None, what: str) -> float:
    """``--cond`` as a float; a :class:`~hypernet.training.UsageError` saying so otherwise."""
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"expected --cond to be {what} (a number), got {text!r}; pass e.g. --cond 0.001") from None


def no_cond(text: str | None, recipe: str) -> None:
    """Refuse a ``--cond`` for a recipe with one weight set."""
    if text not in (None, "", "none"):
        raise UsageError(f"expected no --cond for the {recipe} recipe (one weight set), got {text!r}; leave --cond out")
