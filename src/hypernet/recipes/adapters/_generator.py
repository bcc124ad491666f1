"""The hypernetwork of the adapter recipe, and the two baselines that share its interface.

:class:`AdapterGenerator` (HyperFormer++-style): one shared network maps a condition embedding
``c`` and a learned embedding of each slot (layer and position) to that slot's two factors. Slots
of one shape share the output layer, so its size does not grow with the number of layers or
tasks. The second factor (``B`` for LoRA, the up-projection for adapters) starts at zero, so the
adapted base starts equal to the frozen base.

:class:`FactorTable` holds factors directly: one set per task (``per_task``, N times the
parameters: one LoRA per task) or one set for all (``shared``).

Example:
    >>> import torch
    >>> g = AdapterGenerator([((2, 4), (4, 2))], cond_dim=3, hidden=5)
    >>> a, b = g(torch.zeros(6, 3))[0]
    >>> a.shape, b.shape, bool(b.abs().sum() == 0)
    (torch.Size([6, 2, 4]), torch.Size([6, 4, 2]), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

Shapes = Sequence[tuple[tuple[int, int], tuple[int, int]]]


class AdapterGenerator(nn.Module):
    """Condition embeddings ``(U, cond_dim)`` -> per slot ``(A (U, *a_shape), B (U, *b_shape))``."""

    def __init__(self, shapes: Shapes, cond_dim: int, hidden: int):
        super().__init__()
        self.shapes = [(tuple(a), tuple(b)) for a, b in shapes]
        self.slot_embedding = nn.Parameter(torch.randn(len(self.shapes), cond_dim) / math.sqrt(cond_dim))
        self.trunk = nn.Sequential(nn.Linear(2 * cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        kinds = sorted(set(self.shapes))
        self._group = [kinds.index(s) for s in self.shapes]
        linears = [nn.Linear(hidden, math.prod(a) + math.prod(b)) for a, b in kinds]
        self.heads = nn.ModuleList(linears)
        with torch.no_grad():
            for head, (a, _) in zip(linears, kinds, strict=True):
                n_a, fan_in = math.prod(a), a[1]
                head.weight.zero_()
                head.bias.zero_()
                head.weight[:n_a].normal_(0.0, 0.5 / math.sqrt(fan_in * hidden))
                head.bias[:n_a].uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))

    def forward(self, cond: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        u, j = cond.shape[0], len(self.shapes)
        pairs = torch.cat([cond[:, None].expand(u, j, -1), self.slot_embedding[None].expand(u, j, -1)], dim=-1)
        z = self.trunk(pairs)
        out = []
        for slot, ((a, b), g) in enumerate(zip(self.shapes, self._group, strict=True)):
            flat = self.heads[g](z[:, slot])
            n_a = math.prod(a)
            out.append((flat[:, :n_a].reshape(u, *a), flat[:, n_a:].reshape(u, *b)))
        return out


class FactorTable(nn.Module):
    """Factors stored directly: ``count`` sets (one per task, or 1 shared); LoRA's init (A uniform, B zero)."""

    def __init__(self, shapes: Shapes, count: int):
        super().__init__()
        self.shapes = [(tuple(a), tuple(b)) for a, b in shapes]
        self.a = nn.ParameterList(
            nn.Parameter(torch.empty(count, *a).uniform_(-1.0 / math.sqrt(a[1]), 1.0 / math.sqrt(a[1]))) for a, _ in self.shapes
        )
        self.b = nn.ParameterList(nn.Parameter(torch.zeros(count, *b)) for _, b in self.shapes)

    def forward(self, index: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(cast(torch.Tensor, a)[index], cast(torch.Tensor, b)[index]) for a, b in zip(self.a, self.b, strict=True)]
