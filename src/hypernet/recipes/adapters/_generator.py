"""The hypernetwork of the adapter recipe, and the two baselines that share its interface: core ``hn.Generator`` s.

Both map condition embeddings ``(U, cond_dim)`` to the flat ``(U, n_generated)`` adapter weights
of the core's :class:`~hypernet.HyperModel` (``spec.flatten`` of every slot's two factors), so
the recipe runs on the core's one per-sample path.

:class:`AdapterGenerator` (HyperFormer++-style): one shared network maps a condition embedding
``c`` and a learned embedding of each slot (layer and position) to that slot's two factors. Slots
of one shape share the output layer, so its size does not grow with the number of layers or
tasks. The second factor (``B`` for LoRA, the up-projection for adapters) starts at zero, so the
adapted base starts equal to the frozen base.

:class:`FactorTable` holds factors directly: one set per task (``per_task``, N times the
parameters: one LoRA per task) or one set for all (``shared``); its condition is a one-hot row.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hypernet._spec import ParamSpec
    >>> target = nn.ModuleDict({"a": nn.Linear(4, 2, bias=False), "b": nn.Linear(2, 4, bias=False)})
    >>> g = AdapterGenerator(hidden=5).bind(ParamSpec.from_module(target), 3)
    >>> a, b = g.factors(torch.zeros(6, 3))[0]
    >>> a.shape, b.shape, bool(b.abs().sum() == 0), tuple(g(torch.zeros(6, 3)).shape)
    (torch.Size([6, 2, 4]), torch.Size([6, 4, 2]), True, (6, 16))
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from ...generators import Generator

Pair = tuple[torch.Tensor, torch.Tensor]


def _shapes(gen: Generator) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The ``(A, B)`` shapes of each slot: the bound spec's tensors taken in pairs."""
    tensors = gen.spec.tensors
    return [(cast(tuple[int, int], tensors[i].shape), cast(tuple[int, int], tensors[i + 1].shape)) for i in range(0, len(tensors), 2)]


def _flatten(gen: Generator, pairs: list[Pair]) -> torch.Tensor:
    return gen.spec.flatten({t.name: f for t, f in zip(gen.spec.tensors, [f for pair in pairs for f in pair], strict=True)})


class AdapterGenerator(Generator):
    """Condition embeddings ``(U, cond_dim)`` -> every slot's ``(A (U, *a_shape), B (U, *b_shape))``, flattened."""

    name = "adapter_hyper"

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.hidden = hidden

    def build(self) -> None:
        self.shapes = _shapes(self)
        cond_dim, hidden = self.cond_dim, self.hidden
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

    def factors(self, cond: torch.Tensor) -> list[Pair]:
        """Every slot's two factors for embeddings ``cond`` ``(U, cond_dim)``."""
        u, j = cond.shape[0], len(self.shapes)
        pairs = torch.cat([cond[:, None].expand(u, j, -1), self.slot_embedding[None].expand(u, j, -1)], dim=-1)
        z = self.trunk(pairs)
        out = []
        for slot, ((a, b), g) in enumerate(zip(self.shapes, self._group, strict=True)):
            flat = self.heads[g](z[:, slot])
            n_a = math.prod(a)
            out.append((flat[:, :n_a].reshape(u, *a), flat[:, n_a:].reshape(u, *b)))
        return out

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return _flatten(self, self.factors(emb))

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        return []  # its own init (B at zero); the model uses init="default"


class FactorTable(Generator):
    """Factors stored directly: ``count`` sets (one per task, or 1 shared), LoRA's init (A uniform, B zero).

    The embedding is a one-hot row (``RowCondition("onehot")``); its argmax picks the set.
    """

    name = "adapter_table"

    def build(self) -> None:
        self.shapes = _shapes(self)
        count = self.cond_dim
        self.a = nn.ParameterList(
            nn.Parameter(torch.empty(count, *a).uniform_(-1.0 / math.sqrt(a[1]), 1.0 / math.sqrt(a[1]))) for a, _ in self.shapes
        )
        self.b = nn.ParameterList(nn.Parameter(torch.zeros(count, *b)) for _, b in self.shapes)

    def factors(self, emb: torch.Tensor) -> list[Pair]:
        index = emb.argmax(-1)
        return [(cast(torch.Tensor, a)[index], cast(torch.Tensor, b)[index]) for a, b in zip(self.a, self.b, strict=True)]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return _flatten(self, self.factors(emb))

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        return []
