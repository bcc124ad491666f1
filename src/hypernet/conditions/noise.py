"""Noise condition: z ~ N(0, I) drawn per call, for implicit weight distributions."""

from __future__ import annotations

from typing import Any

import torch

from .._limits import check_allocation
from .._validation import check_int
from ..errors import ConditionError, describe
from ._base import Condition, Split, check_positive


class Noise(Condition):
    """Samples ``z ~ N(0, I)`` of size ``dim`` on every call.

    ``model(x, None)`` uses one draw for the batch; ``model(x, None, samples=K)``
    uses K draws in one batched call and returns outputs of shape ``(K, B, ...)``.
    Pass an explicit ``(K, dim)`` tensor as ``cond`` to reuse given draws.

    Example:
        >>> import torch, hypernet as hn
        >>> noise = hn.Noise(dim=3)
        >>> s = noise.split(None, samples=5)
        >>> s.mode, noise(s.values).shape
        ('draws', torch.Size([5, 3]))
    """

    kind = "noise"
    _anchor: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive("dim", dim, "Noise")
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def split(self, cond: Any, samples: int | None = None) -> Split:
        check_int(samples, "samples", low=1, optional=True, error=ConditionError, hint="pass e.g. samples=10")
        if cond is None:
            k = 1 if samples is None else samples
            check_allocation(k * self.dim, "samples=K draws", f"got samples={k}; draw fewer at a time", error=ConditionError)
            z = torch.randn(k, self.dim, device=self._anchor.device, dtype=self._anchor.dtype)
            return Split(z, None, "single" if samples is None else "draws", k)
        if not isinstance(cond, torch.Tensor) or not cond.dtype.is_floating_point:
            raise ConditionError(
                f"expected cond=None or a float tensor (K, {self.dim}) of draws, got {describe(cond)}; pass cond=None to sample"
            )
        if cond.dim() != 2 or cond.shape[1] != self.dim or cond.shape[0] == 0:
            raise ConditionError(f"expected draws of shape (K, {self.dim}), got {describe(cond)}; pass cond=None to sample")
        if samples is not None and samples != cond.shape[0]:
            raise ConditionError(
                f"expected samples={cond.shape[0]} to match the {cond.shape[0]} draws given, got samples={samples}; pass samples=None"
            )
        self._check_device(cond, "noise draws")
        if not bool(torch.isfinite(cond).all()):
            raise ConditionError(f"expected finite noise draws, got NaN or inf in {describe(cond)}; pass cond=None to sample")
        return Split(cond, None, "draws", cond.shape[0])

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return values

    def _device(self) -> torch.device:
        return self._anchor.device
