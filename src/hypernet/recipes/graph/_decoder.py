"""GHN-2's shape-aware decoder: a fixed-size block per node, tiled and sliced to any parameter shape.

A node embedding becomes a block of shape ``(O, I, K, K)`` (a first linear layer gives ``K x K``
spatial features, 1x1 convolutions give ``O x I`` channels per position; only the spatial
positions a kernel needs are computed). A parameter of shape ``(out, in, kh, kw)`` takes the
block's top-left corner and, where it is larger than the block, repeats it along the channel
(and spatial) dimensions. 2-d weights use position ``(0, 0)``, 3-d weights ``(:, :, k, 0)``.
1-d parameters (norm scales, biases) come from a second MLP giving two rows of ``O`` values.

The raw outputs are then normalised by operation (GHN-2's fan-in scheme): weights are scaled
by ``sqrt(gain / fan_in)`` with gain 2 when a ReLU-like activation follows and 1 otherwise, norm
scales map to ``2 * sigmoid(p / 2)`` (in (0, 2), 1 at p = 0) and biases to ``tanh(p / 5)``.

Example:
    >>> import torch
    >>> w = torch.arange(6.0).view(2, 3)
    >>> tile(w, (3, 4))
    tensor([[0., 1., 2., 0.],
            [3., 4., 5., 3.],
            [0., 1., 2., 0.]])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._encoder import mlp


def tile(block: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``block`` sliced to ``shape`` where larger and repeated (then sliced) where smaller; same number of dimensions."""
    out = block
    for dim, size in enumerate(shape):
        have = out.shape[dim]
        if have > size:
            out = out.narrow(dim, 0, size)
        elif have < size:
            reps = [1] * out.dim()
            reps[dim] = -(-size // have)
            out = out.repeat(*reps).narrow(dim, 0, size)
    return out


class ShapeDecoder(nn.Module):
    """Node embeddings -> parameter blocks of shape ``block`` and 1-d rows.

    Args:
        hidden: node embedding size.
        block: ``(O, I, K, K)``, the largest slice predicted without repetition.
        inner: channels of the intermediate spatial features.
    """

    def __init__(self, hidden: int, block: tuple[int, int, int, int] = (64, 64, 5, 5), inner: int = 64) -> None:
        super().__init__()
        self.block = tuple(block)
        o, i, kh, kw = self.block
        self.inner = inner
        self.spatial = nn.Linear(hidden, inner * kh * kw)
        self.channels = nn.Sequential(nn.Conv2d(inner, inner, 1), nn.ReLU(), nn.Conv2d(inner, o * i, 1))
        self.vector = mlp([hidden, 2 * hidden, 2 * o])
        # He initialisation, linear last layer: raw blocks start with unit variance, so the fan-in
        # normalisation gives weights of a standard (Kaiming) initialisation's scale at step 0.
        first, last = self.channels[0], self.channels[2]
        assert isinstance(first, nn.Conv2d) and isinstance(last, nn.Conv2d)
        for layer, kind in ((self.spatial, "relu"), (first, "relu"), (last, "linear")):
            nn.init.kaiming_normal_(layer.weight, nonlinearity=kind)  # type: ignore[arg-type]
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def weight(self, x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
        """``(n, O, I, min(kh, K), min(kw, K))`` blocks for ``n`` node embeddings ``x``."""
        o, i, bh, bw = self.block
        kh, kw = min(kh, bh), min(kw, bw)
        n = x.shape[0]
        w = self.spatial.weight.view(self.inner, bh, bw, -1)[:, :kh, :kw].reshape(-1, x.shape[1])
        b = self.spatial.bias.view(self.inner, bh, bw)[:, :kh, :kw].reshape(-1)
        f = torch.relu(nn.functional.linear(x, w, b)).view(n, self.inner, kh, kw)
        return self.channels(f).view(n, o, i, kh, kw)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 2, O)``: row 0 for norm scales, row 1 for biases."""
        return self.vector(x).view(x.shape[0], 2, self.block[0])


class LowRankDecoder(nn.Module):
    """LoGAH's low-rank decoder: a 2-d weight of shape ``(n, m)`` is ``U @ V.T / sqrt(r)`` with ``U (n, r)``, ``V (m, r)``.

    Each node embedding gives two factor blocks of ``rows x r``; they are tiled along their first
    dimension to ``n`` and ``m`` rows, so one decoder covers any width, and every matrix has rank at most ``r``.

    Args:
        hidden: node embedding size.
        rank: ``r``.
        rows: rows of each predicted factor block (widths up to ``rows`` are predicted without repetition).

    Example:
        >>> import torch
        >>> dec = LowRankDecoder(8, rank=2, rows=16)
        >>> w = dec(torch.randn(3, 8), (40, 24))
        >>> w.shape, int(torch.linalg.matrix_rank(w[0]))
        (torch.Size([3, 40, 24]), 2)
    """

    def __init__(self, hidden: int, rank: int = 16, rows: int = 256) -> None:
        super().__init__()
        self.rank, self.rows = rank, rows
        self.net = mlp([hidden, 2 * hidden, 2 * rows * rank])
        first, last = self.net[0], self.net[-1]
        assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
        for layer, kind in ((first, "relu"), (last, "linear")):  # unit-variance factors at step 0
            nn.init.kaiming_normal_(layer.weight, nonlinearity=kind)  # type: ignore[arg-type]
            nn.init.zeros_(layer.bias)

    def factors(self, x: torch.Tensor, shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``U (k, n, r)`` and ``V (k, m, r)`` for ``k`` node embeddings."""
        f = self.net(x).view(x.shape[0], 2, self.rows, self.rank)
        return tile(f[:, 0], (x.shape[0], shape[0], self.rank)), tile(f[:, 1], (x.shape[0], shape[1], self.rank))

    def forward(self, x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """``(k, n, m)`` matrices of rank at most ``r``."""
        u, v = self.factors(x, shape)
        return u @ v.transpose(1, 2) / math.sqrt(self.rank)


def fit_shape(block: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """One predicted ``(O, I, k, k)`` block made into a tensor of ``shape`` (1 to 4 dimensions)."""
    if len(shape) == 2:
        block = block[:, :, 0, 0]
    elif len(shape) == 3:
        block = block[:, :, :, 0]
    return tile(block, shape)


def normalize_weight(w: torch.Tensor, gain: float) -> torch.Tensor:
    """Fan-in scaling ``w * sqrt(gain / fan_in)`` (GHN-2)."""
    fan_in = math.prod(w.shape[1:])
    return w * math.sqrt(gain / fan_in)


def normalize_scale(p: torch.Tensor) -> torch.Tensor:
    """Norm-layer scales in (0, 2), 1 at p = 0."""
    return 2 * torch.sigmoid(0.5 * p)


def normalize_bias(p: torch.Tensor) -> torch.Tensor:
    """Biases in (-1, 1)."""
    return torch.tanh(0.2 * p)
