"""GHN-2's gated graph neural network: one forward and one backward sweep over a DAG in topological order.

Each sweep visits the nodes one by one (a batch of graphs in parallel, padded to the same node
count). A node's message is the sum of an MLP of its already-visited neighbours' states over
1-hop edges, plus, with virtual edges, a second MLP of every neighbour within ``cutoff`` hops
weighted by 1/distance (GHN-2, Eq. 4). A GRU cell shared by all nodes updates the node's state
from its message. The forward sweep reads predecessors, the backward sweep (reverse order)
successors, so every node's state depends on the whole graph.

Example:
    >>> import torch
    >>> gnn = GatedGNN(8)
    >>> x = torch.randn(2, 3, 8)
    >>> adj = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 1, 0]]).expand(2, 3, 3)
    >>> gnn(x, adj, adj, torch.ones(2, 3, dtype=torch.bool)).shape
    torch.Size([2, 3, 8])
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last if ``last_activation``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def sinusoid_positions(n: int, dim: int, base: float = 1000.0) -> torch.Tensor:
    """``(n, dim)`` transformer-style sinusoids of the positions ``0 .. n-1`` (frequencies ``base ** (-2i / dim)``).

    Example:
        >>> sinusoid_positions(3, 4)[0]
        tensor([0., 1., 0., 1.])
    """
    half = (dim + 1) // 2
    angle = torch.arange(n, dtype=torch.float32)[:, None] * base ** (-torch.arange(half, dtype=torch.float32) / half)
    return torch.stack([angle.sin(), angle.cos()], -1).flatten(1)[:, :dim]


class GatedGNN(nn.Module):
    """Gated GNN with sequential forward and backward sweeps (GHN-1/GHN-2 propagation).

    Args:
        hidden: node state size.
        virtual_edges: add messages over multi-hop (virtual) edges weighted by 1/distance.
        rounds: how many forward+backward sweep pairs.
    """

    def __init__(self, hidden: int, virtual_edges: bool = True, rounds: int = 1) -> None:
        super().__init__()
        self.hidden, self.virtual_edges, self.rounds = hidden, virtual_edges, rounds
        self.message = mlp([hidden, hidden // 2 if virtual_edges else hidden, hidden], last_activation=True)
        self.message_virtual = mlp([hidden, hidden // 2, hidden], last_activation=True) if virtual_edges else None
        self.gru = nn.GRUCell(hidden, hidden)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, virtual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Updated node states.

        Args:
            x: ``(B, N, C)`` initial node states, nodes in topological order.
            adjacency: ``(B, N, N)``, ``adjacency[b, dst, src] = 1`` for an edge ``src -> dst``.
            virtual: ``(B, N, N)`` weights ``1 / distance(src, dst)`` for nodes within the cutoff (0 elsewhere).
            mask: ``(B, N)`` which nodes exist (graphs are padded to ``N``).
        """
        _, n, _ = x.shape
        states = list(x.unbind(1))
        for _ in range(self.rounds):
            for backward in (False, True):
                adj = adjacency.transpose(1, 2) if backward else adjacency
                vir = virtual.transpose(1, 2) if backward else virtual
                order = range(n - 1, -1, -1) if backward else range(n)
                visited: list[int] = []
                sent: list[torch.Tensor] = []
                sent_virtual: list[torch.Tensor] = []
                for v in order:
                    if visited:
                        messages = torch.stack(sent, 1)  # (B, k, C)
                        m = torch.einsum("bk,bkc->bc", adj[:, v, visited], messages)
                        if self.message_virtual is not None:
                            m = m + torch.einsum("bk,bkc->bc", vir[:, v, visited], torch.stack(sent_virtual, 1))
                    else:
                        m = torch.zeros_like(states[v])
                    updated = self.gru(m, states[v])
                    states[v] = torch.where(mask[:, v, None], updated, states[v])
                    visited.append(v)
                    sent.append(self.message(states[v]))
                    if self.message_virtual is not None:
                        sent_virtual.append(self.message_virtual(states[v]))
        return torch.stack(states, 1)
