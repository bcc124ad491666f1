"""GHN-3's node encoder: Graphormer layers (self-attention over all nodes, biased by shortest-path distance).

GHN-3 (Knyazev et al., 2023) replaced GHN-2's sequential gated GNN by transformer layers over the
graph's nodes: each head adds a learned bias per (clamped, directed) shortest-path distance between
two nodes to its attention logits, and node in/out degrees are embedded into the input. Every node
attends to every other in parallel, so one layer costs a few matrix products instead of a Python
loop over nodes.

Example:
    >>> import torch
    >>> enc = GraphormerEncoder(16, layers=2, heads=4, max_distance=3)
    >>> d = torch.tensor([[0, 0, 0], [1, 0, 0], [2, 1, 0]]).expand(2, 3, 3)  # d[dst, src]
    >>> adj = (d == 1).float()
    >>> enc(torch.randn(2, 3, 16), adj, d, torch.ones(2, 3, dtype=torch.bool)).shape
    torch.Size([2, 3, 16])
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Layer(nn.Module):
    """Pre-norm transformer layer with an additive attention bias (the same computation in train and eval mode)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.out = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(c // self.heads) + bias  # (B, heads, N, N)
        h = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        x = x + self.out(h)
        return x + self.ffn(self.norm2(x))


class GraphormerEncoder(nn.Module):
    """Pre-norm transformer layers over graph nodes with distance-biased attention and degree embeddings.

    Args:
        hidden: node state size (divisible by ``heads``).
        layers: transformer layers.
        heads: attention heads.
        max_distance: distances beyond it share one bias (as do unreachable pairs, separately).
    """

    def __init__(self, hidden: int, layers: int = 3, heads: int = 8, max_distance: int = 8) -> None:
        super().__init__()
        self.heads, self.max_distance = heads, max_distance
        # bias index: 0 self, 1..D forward distance, D+1..2D backward distance, 2D+1 unreachable
        self.distance_bias = nn.Embedding(2 * max_distance + 2, heads * layers)
        self.in_degree = nn.Embedding(max_distance + 1, hidden)
        self.out_degree = nn.Embedding(max_distance + 1, hidden)
        self.layers = nn.ModuleList(_Layer(hidden, heads) for _ in range(layers))
        nn.init.zeros_(self.distance_bias.weight)

    def bias_index(self, distances: torch.Tensor) -> torch.Tensor:
        """``(B, N, N)`` bias indices from forward distances ``d[b, dst, src]`` (0 where unreachable)."""
        d = distances.long()
        fwd = d.clamp(max=self.max_distance)
        bwd = d.transpose(1, 2).clamp(max=self.max_distance)
        n = d.shape[-1]
        index = torch.full_like(d, 2 * self.max_distance + 1)
        index = torch.where(bwd > 0, self.max_distance + bwd, index)
        index = torch.where(fwd > 0, fwd, index)
        return torch.where(torch.eye(n, dtype=torch.bool, device=d.device), torch.zeros_like(d), index)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, distances: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Updated node states ``(B, N, C)``; ``adjacency[b, dst, src]``, ``distances[b, dst, src]``, ``mask`` marks real nodes."""
        x = x + self.in_degree(adjacency.sum(2).long().clamp(max=self.max_distance))
        x = x + self.out_degree(adjacency.sum(1).long().clamp(max=self.max_distance))
        bias = self.distance_bias(self.bias_index(distances)).permute(0, 3, 1, 2)  # (B, heads * layers, N, N)
        blocked = ~mask[:, None, None, :]
        for i, layer in enumerate(self.layers):
            x = layer(x, bias[:, i * self.heads : (i + 1) * self.heads].masked_fill(blocked, float("-inf")))
        return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
