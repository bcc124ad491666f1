"""Layer-wise (component-wise) generator: one learned embedding and one output head per generated tensor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._base import EmbeddedTrunk, Generator, check_positive_int, check_sizes
from ._registry import register_generator


@register_generator("layerwise")
class LayerwiseGenerator(Generator):
    """A shared MLP over ``[embedding, layer_embedding_t]`` and a linear head per tensor t.

    The shared trunk learns what layers have in common; each head only emits its
    own tensor, so hyperfan scaling is exact per tensor and layers can be added or
    left out (``generate=``) without touching the others.

    Args:
        layer_dim: size of the learned per-tensor embeddings.
        hidden: hidden widths of the shared MLP (at least one). The heads hold
            ``hidden[-1] * n_generated`` parameters, so a small ``hidden[-1]``
            compresses.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> target = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> model = hn.HyperModel(target, condition=hn.Embedding(2, 8), generator="layerwise")
        >>> len(model.generator.heads), model.generator(torch.randn(2, 8)).shape
        (4, torch.Size([2, 23]))
    """

    def __init__(self, layer_dim: int = 8, hidden: Sequence[int] = (32,)) -> None:
        super().__init__()
        self.layer_dim = check_positive_int("LayerwiseGenerator", "layer_dim", layer_dim)
        self.hidden = check_sizes("LayerwiseGenerator", "hidden", hidden)

    def build(self) -> None:
        tensors = self.spec.tensors
        self.trunk = EmbeddedTrunk(self.cond_dim, len(tensors), self.layer_dim, self.hidden)
        self.heads = nn.ModuleList(nn.Linear(self.hidden[-1], t.numel) for t in tensors)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        h = self.trunk(emb)  # (U, T, hidden)
        return torch.cat([head(h[:, t]) for t, head in enumerate(self.heads)], dim=-1)

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        h = self.trunk(probe)
        return [(head, h[:, t]) for t, head in enumerate(self.heads)]  # type: ignore[misc]
