"""Whole-output generator: one MLP emits every generated weight at once."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._base import Generator, check_sizes, trunk_mlp
from ._registry import register_generator


@register_generator("mlp")
class MLPGenerator(Generator):
    """An MLP from the embedding to all generated weights (Ha et al.'s "full" hypernetwork).

    Args:
        hidden: widths of the hidden layers; ``()`` makes it a single linear map.

    Its output layer has ``hidden[-1] * n_generated`` parameters, so it suits small
    targets or partial generation; use ``"chunked"`` for large ones.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> model = hn.HyperModel(nn.Linear(4, 2), condition=hn.Embedding(3, 8), generator="mlp")
        >>> model.generator(torch.randn(5, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self, hidden: Sequence[int] = (64,)) -> None:
        super().__init__()
        self.hidden = check_sizes("MLPGenerator", "hidden", hidden, allow_empty=True)

    def build(self) -> None:
        self.trunk = trunk_mlp([self.cond_dim, *self.hidden])
        self.out = nn.Linear(([self.cond_dim, *self.hidden])[-1], self.spec.numel)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(emb))

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        return [(self.out, self.trunk(probe))]
