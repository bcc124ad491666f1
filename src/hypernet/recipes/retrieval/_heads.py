"""Hyper-heads: attention over a query's contextualised token embeddings that emits every q-net weight and bias.

As in the Hypencoder paper (Killingback, Zeng and Zamani, 2025), for a q-net matrix of shape ``(in, out)``:

* ``out`` learned query vectors of width ``in`` attend over the tokens' keys and values (two linear maps
  from the encoder width to ``in``), masked by the attention mask;
* each attended row goes through ReLU, layer norm and a linear map ``in -> in``, and a learned base matrix
  is added; the transpose is the q-net weight ``(in, out)``;
* a bias vector of width ``out`` is one attended row of width ``out`` through the same steps.

Initialisation follows the paper: query vectors ``N(0, 10^2)``, base matrices ``N(0, 2 / d)``, projections
``N(0, (1 / d^2)^2)`` with zero bias (so a fresh q-net is close to a static MLP and the query-dependent part
grows in training), base bias vectors zero. Attention logits are scaled by ``1 / sqrt(in)``.

Example:
    >>> import torch
    >>> heads = HyperHeads(model_dim=8, dims=[8, 6, 6, 1])
    >>> w = heads(torch.randn(3, 5, 8), torch.ones(3, 5, dtype=torch.long))
    >>> [tuple(t.shape) for t in w.weights], [tuple(t.shape) for t in w.biases]
    ([(3, 8, 6), (3, 6, 6), (3, 6, 1)], [(3, 6), (3, 6)])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._qnet import QNetWeights


class _Head(nn.Module):
    """One generated tensor: ``rows`` attended vectors of width ``width`` (a matrix ``(width, rows)`` after transposing)."""

    def __init__(self, model_dim: int, rows: int, width: int, *, is_bias: bool):
        super().__init__()
        self.width = width
        self.queries = nn.Parameter(torch.randn(rows, width) * 10.0)
        self.key = nn.Linear(model_dim, width)
        self.value = nn.Linear(model_dim, width)
        self.proj = nn.Linear(width, width)
        self.base = nn.Parameter(torch.zeros(rows, width) if is_bias else torch.randn(rows, width) * math.sqrt(2.0 / model_dim))
        with torch.no_grad():
            nn.init.zeros_(self.key.bias)
            nn.init.zeros_(self.value.bias)
            nn.init.normal_(self.proj.weight, std=1.0 / model_dim**2)
            nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, model_dim)`` tokens and ``(B, L)`` mask -> ``(B, rows, width)``."""
        keys, values = self.key(hidden), self.value(hidden)
        logits = torch.einsum("rw,blw->brl", self.queries, keys) / math.sqrt(self.width)
        logits = logits.masked_fill(mask.unsqueeze(1) == 0, float("-inf"))
        attended = torch.einsum("brl,blw->brw", torch.softmax(logits, dim=-1), values)
        return self.proj(F.layer_norm(torch.relu(attended), (self.width,))) + self.base


class HyperHeads(nn.Module):
    """The hyper-heads of a q-net with layer widths ``dims`` (``[d, h, ..., h, 1]``) over an encoder of width ``model_dim``."""

    def __init__(self, model_dim: int, dims: list[int]):
        super().__init__()
        self.dims = list(dims)
        self.weight_heads = nn.ModuleList(_Head(model_dim, rows=dims[i], width=dims[i - 1], is_bias=False) for i in range(1, len(dims)))
        self.bias_heads = nn.ModuleList(_Head(model_dim, rows=1, width=dims[i], is_bias=True) for i in range(1, len(dims) - 1))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> QNetWeights:
        """Q-net weights of a batch of queries from their token embeddings ``(B, L, model_dim)`` and mask ``(B, L)``."""
        weights = [head(hidden, mask).transpose(1, 2) for head in self.weight_heads]
        biases = [head(hidden, mask).squeeze(1) for head in self.bias_heads]
        return QNetWeights(weights, biases)
