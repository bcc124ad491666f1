"""Chunked generator: a shared MLP emits the flat weight vector chunk by chunk (von Oswald et al., 2020)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._base import EmbeddedTrunk, Generator, check_positive_int, check_sizes
from ._registry import register_generator


@register_generator("chunked")
class ChunkedGenerator(Generator):
    """Shared MLP over ``[embedding, chunk_embedding_j]`` -> chunk j of the flat weights.

    All chunks of all embeddings are produced by one batched matmul (no Python loop).

    Args:
        chunk_size: outputs per chunk. ``None`` picks ``sqrt(n * chunk_dim / hidden[-1])``,
            which about minimises the generator's parameter count.
        chunk_dim: size of the learned chunk embeddings.
        hidden: hidden widths of the shared MLP (at least one).
        decorrelate: give every output element a fixed random sign (folded into the
            model's scale). Chunks share one output layer, so without it every chunk
            starts as a copy of one pattern: rows of a weight matrix start nearly
            equal and a layer can start with all its ReLUs dead.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> model = hn.HyperModel(nn.Linear(30, 10), condition=hn.Embedding(3, 8),
        ...                       generator=hn.create_generator("chunked", chunk_size=50))
        >>> model.generator.num_chunks, model.generator(torch.randn(2, 8)).shape
        (7, torch.Size([2, 350]))
    """

    def __init__(self, chunk_size: int | None = None, chunk_dim: int = 8, hidden: Sequence[int] = (64,), decorrelate: bool = True) -> None:
        super().__init__()
        self.decorrelate = bool(decorrelate)
        self.chunk_size_arg = None if chunk_size is None else check_positive_int("ChunkedGenerator", "chunk_size", chunk_size)
        self.chunk_dim = check_positive_int("ChunkedGenerator", "chunk_dim", chunk_dim)
        self.hidden = check_sizes("ChunkedGenerator", "hidden", hidden)

    def build(self) -> None:
        n = self.spec.numel
        size = self.chunk_size_arg or max(1, round(math.sqrt(n * self.chunk_dim / self.hidden[-1])))
        self.chunk_size = min(size, n)
        self.num_chunks = math.ceil(n / self.chunk_size)
        self.trunk = EmbeddedTrunk(self.cond_dim, self.num_chunks, self.chunk_dim, self.hidden)
        self.out = nn.Linear(self.hidden[-1], self.chunk_size)

    def extra_repr(self) -> str:
        if not self.is_bound:
            return "unbound"
        return f"chunk_size={self.chunk_size}, num_chunks={self.num_chunks}, chunk_dim={self.chunk_dim}"

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        # (U, J, chunk_size) -> (U, J * chunk_size): the last chunk's padding is kept (no slicing copy in
        # backward); the model ignores it.
        return self.out(self.trunk(emb)).flatten(1)

    @property
    def output_size(self) -> int:
        return self.num_chunks * self.chunk_size

    def output_signs(self) -> torch.Tensor | None:
        if not self.decorrelate:
            return None
        return torch.randint(0, 2, (self.output_size,)).mul_(2).sub_(1).float()

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        return [(self.out, self.trunk(probe))]
