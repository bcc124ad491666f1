"""A small classifier with one HyperMoE block (the CLI's tiny task and the tests' trainable model).

``x -> Linear(d_in, width) -> ReLU -> x + HyperMoE(x) -> LayerNorm -> Linear(width, classes)``.

Example:
    >>> import torch
    >>> net = MoEClassifier(64, 10, width=16, num_experts=4, top_k=2, hidden=16)
    >>> net(torch.randn(3, 64)).shape
    torch.Size([3, 10])
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .hyper_moe import HyperMoE


class MoEClassifier(nn.Module):
    """Input projection, one residual HyperMoE block, a linear head; ``**moe`` goes to :class:`HyperMoE`."""

    def __init__(self, d_in: int, classes: int, width: int, **moe: Any) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(d_in, width), nn.ReLU())
        self.moe = HyperMoE(width, width, **moe)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        out: torch.Tensor = self.head(self.norm(h + self.moe(h)))
        return out

    def materialize(self) -> MoEClassifier:
        """An independent copy whose MoE block is :meth:`HyperMoE.materialize` (plain experts and gate)."""
        plain = copy.deepcopy(self)
        plain.moe = self.moe.materialize()
        return plain
