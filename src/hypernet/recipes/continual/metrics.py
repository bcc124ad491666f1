"""Metrics shared by the continual-learning recipe and its baselines: accuracy matrices, backward transfer, entropy.

Example:
    >>> import torch
    >>> acc = accuracy_matrix([{0: 0.9}, {0: 0.8, 1: 0.95}])
    >>> acc.tolist()[0][1] != acc.tolist()[0][1], round(backward_transfer(acc), 3)   # NaN: task 1 not evaluated after task 0
    (True, -0.1)
    >>> [round(v, 3) for v in predictive_entropy(torch.tensor([[0.0, 0.0], [10.0, -10.0]])).tolist()]
    [0.693, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..._boundary import guarded_function
from ..._modes import eval_mode
from ...errors import HypernetError

Loaders = Mapping[int, Iterable[Any]] | Sequence[Iterable[Any]]


@guarded_function
def predictive_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` over the last dimension."""
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


@guarded_function
def accuracy_matrix(rows: Sequence[Mapping[int, float]], num_tasks: int | None = None) -> torch.Tensor:
    """``(len(rows), num_tasks)`` float64 matrix: ``[r, i]`` = accuracy on task ``i`` after the r-th trained task (NaN: not measured)."""
    cols = num_tasks if num_tasks is not None else max((max(r) + 1 for r in rows if r), default=0)
    out = torch.full((len(rows), cols), math.nan, dtype=torch.float64)
    for r, row in enumerate(rows):
        for i, acc in row.items():
            if i < cols:
                out[r, i] = acc
    return out


@guarded_function
def backward_transfer(matrix: torch.Tensor) -> float:
    """Backward transfer (Lopez-Paz & Ranzato, 2017): mean over tasks ``i < T-1`` of ``A[T-1, i] - A[i, i]``.

    Assumes row ``i`` was recorded right after training task ``i`` (tasks trained in order 0, 1, ...).
    Negative values are forgetting. NaN when fewer than two tasks were trained.
    """
    t = matrix.shape[0]
    if t < 2 or matrix.shape[1] < t:
        return math.nan
    diffs = [float(matrix[t - 1, i] - matrix[i, i]) for i in range(t - 1)]
    return sum(diffs) / len(diffs)


def as_mapping(loaders: Loaders | None) -> dict[int, Iterable[Any]]:
    """Evaluation loaders by task id, from a mapping or a sequence (index = task id)."""
    if loaders is None:
        return {}
    if isinstance(loaders, Mapping):
        return {int(k): v for k, v in loaders.items()}
    return dict(enumerate(loaders))


def batch_xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(x, y)`` of a batch given as a tuple / list whose first two entries are inputs and labels."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise HypernetError(
            f"expected batches of (x, y) (e.g. from a DataLoader over a TensorDataset(x, y)), got {type(batch).__name__}; "
            "pass e.g. DataLoader(TensorDataset(x, y), batch_size=64)"
        )
    return batch[0], batch[1]


@torch.no_grad()
def evaluate_loader(module: nn.Module, logits: Callable[[torch.Tensor], torch.Tensor], loader: Iterable[Any]) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``logits(x)`` over ``loader``, with ``module`` in eval mode (its mode is restored)."""
    correct, total, loss = 0, 0, 0.0
    with eval_mode(module):
        for batch in loader:
            x, y = batch_xy(batch)
            out = logits(x)
            loss += float(nn.functional.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(-1) == y).sum())
            total += int(y.numel())
    if total == 0:
        raise HypernetError("expected an evaluation loader with at least one sample, got an empty one; pass a loader over test data")
    return {"accuracy": correct / total, "loss": loss / total}
