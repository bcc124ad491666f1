"""Static condition: one learned vector, i.e. a static hypernetwork (Ha et al., 2016)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._limits import check_allocation
from ..errors import ConditionError, describe
from ._base import Condition, Split, check_positive
from ._base import unit_rows as _unit_rows


class Static(Condition):
    """One learned embedding; the model is called with ``cond=None``.

    Example:
        >>> import hypernet as hn
        >>> cond = hn.Static(dim=4)
        >>> cond(cond.split(None).values).shape
        torch.Size([1, 4])
    """

    kind = "nothing (static)"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive("dim", dim, "Static")
        check_allocation(dim, "Static(dim=...)", f"got dim={dim}; use a smaller dim")
        self.vector = nn.Parameter(_unit_rows(torch.randn(1, dim)))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def split(self, cond: Any, samples: int | None = None) -> Split:
        self._no_samples(samples)
        if cond is not None:
            raise ConditionError(f"expected cond=None for a Static condition, got {describe(cond)}; call model(x) or model(x, None)")
        return Split(None, None, "single", 1)

    def forward(self, values: Any) -> torch.Tensor:
        return self.vector
