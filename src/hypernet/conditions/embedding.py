"""Task-id condition: one learned embedding per integer id."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._limits import check_allocation
from ..errors import ConditionError, describe
from ._base import Condition, Split, check_positive
from ._base import unit_rows as _unit_rows


class Embedding(Condition):
    """A learned embedding per task id (``0 <= id < num``).

    Accepts an ``int`` or 0-d integer tensor (one weight set for the batch) or a
    ``(B,)`` integer tensor (one weight set per sample; repeated ids share one).

    Example:
        >>> import torch, hypernet as hn
        >>> cond = hn.Embedding(num=5, dim=8)
        >>> cond.split(3).mode, cond.split(torch.tensor([1, 1, 4])).count
        ('single', 2)
        >>> cond(torch.tensor([0, 2])).shape
        torch.Size([2, 8])
    """

    kind = "task id"

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        self.num = check_positive("num", num, "Embedding")
        self.dim = check_positive("dim", dim, "Embedding")
        check_allocation(num * dim, "Embedding(num=..., dim=...)", f"got num={num}, dim={dim}; use fewer task ids or a smaller dim")
        self.table = nn.Parameter(_unit_rows(torch.randn(num, dim)))

    def extra_repr(self) -> str:
        return f"num={self.num}, dim={self.dim}"

    def split(self, cond: Any, samples: int | None = None) -> Split:
        self._no_samples(samples)
        hint = f"pass an int in [0, {self.num}) or a LongTensor of shape (B,)"
        if isinstance(cond, bool) or cond is None:
            raise ConditionError(f"expected a task id, got {describe(cond)}; {hint}")
        if isinstance(cond, np.integer):
            cond = int(cond)
        elif isinstance(cond, np.ndarray):
            if cond.dtype.kind not in "iu":
                raise ConditionError(f"expected an integer task id array, got a numpy array of dtype {cond.dtype}; {hint}")
            cond = torch.as_tensor(cond, device=self._device())
        if isinstance(cond, int):
            if not 0 <= cond < self.num:
                raise ConditionError(
                    f"expected task ids in [0, {self.num}), got {cond}; "
                    f"use ids below num={self.num} or build Embedding(num={max(cond + 1, self.num)}, ...)"
                )
            return Split(cond, None, "single", 1)  # forward slices the table: no tensor to build
        if isinstance(cond, torch.Tensor):
            if cond.dtype.is_floating_point or cond.dtype.is_complex or cond.dtype == torch.bool:
                raise ConditionError(f"expected an integer task id tensor, got {describe(cond)}; {hint} (e.g. ids.long())")
            if cond.dim() > 1:
                raise ConditionError(f"expected a 0-d or 1-d task id tensor, got {describe(cond)}; {hint}")
            self._check_device(cond, "task ids")
            if cond.numel() == 0:
                if cond.dim() == 0:  # pragma: no cover - a 0-d tensor holds one element
                    raise ConditionError(f"expected a task id, got an empty tensor; {hint}")
                # an empty batch: one (unused) weight set keeps the target's output shapes
                return Split(torch.zeros(1, dtype=torch.long, device=cond.device), None, "single", 1, batch=0)
            single = cond.dim() == 0
            ids = cond.reshape(-1).long()
        else:
            raise ConditionError(f"expected a task id, got {describe(cond)}; {hint}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.num:
            bad = lo if lo < 0 else hi
            raise ConditionError(
                f"expected task ids in [0, {self.num}), got {bad}; "
                f"use ids below num={self.num} or build Embedding(num={max(hi + 1, self.num)}, ...)"
            )
        if single:
            return Split(ids, None, "single", 1)
        unique, inverse = torch.unique(ids, return_inverse=True)
        if unique.numel() == 1:
            return Split(unique, None, "single", 1, batch=ids.numel())
        return Split(unique, inverse, "per_sample", unique.numel())

    def forward(self, values: torch.Tensor | int) -> torch.Tensor:
        if isinstance(values, int):
            return self.table[values : values + 1]
        return self.table[values]
