"""Routers: token -> one logit per expert.

* ``learned``: a trainable linear gate (SMoE).
* ``random``: the same gate frozen at its random initialisation (SMoE-Dropout, Chen et al. 2023).
* ``hyper``: HyperRouter (Do et al., EMNLP 2023): a hypernetwork frozen at its random
  initialisation generates the gate's weights from a small trainable embedding; the weights are
  regenerated at every call, so training moves the embedding only.
* ``embedding``: HMOE's gate (Qu et al. 2022): a trainable projection of the token is compared
  (scaled dot product) with the expert embeddings the experts' weights are generated from, so
  routing happens in the experts' embedding space.

Example:
    >>> import torch
    >>> router = HyperRouter(8, 4, embed_dim=6, hidden=16)
    >>> router(torch.randn(5, 8)).shape
    torch.Size([5, 4])
    >>> [n for n, p in router.named_parameters() if p.requires_grad]
    ['hyper.condition.vector']
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..._model import HyperModel
from ...conditions import Static

ROUTERS = ("hyper", "learned", "random", "embedding")


class LearnedRouter(nn.Module):
    """A linear gate ``d_in -> num_experts``; ``frozen=True`` keeps it at its random init (SMoE-Dropout)."""

    def __init__(self, d_in: int, num_experts: int, frozen: bool = False) -> None:
        super().__init__()
        self.gate = nn.Linear(d_in, num_experts)
        self.gate.requires_grad_(not frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x)

    def linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The gate as ``(weight (E, d_in), bias (E,))``."""
        return self.gate.weight, self.gate.bias


class HyperRouter(nn.Module):
    """A frozen random hypernetwork generating the gate ``d_in -> num_experts`` from a trainable embedding.

    Built on :class:`~hypernet.HyperModel`: the target is ``nn.Linear(d_in, num_experts)``, the
    condition a :class:`~hypernet.Static` embedding (trainable), the generator an ``"mlp"`` with one
    hidden layer (frozen, as in HyperRouter's ``--freeze_gate``).

    Args:
        d_in: token width.
        num_experts: experts to score.
        embed_dim: size of the trainable embedding (HyperRouter uses ``d_model``; smaller works).
        hidden: hidden width of the frozen hypernetwork (HyperRouter's ``hyper_size``, 64 in its scripts).
    """

    def __init__(self, d_in: int, num_experts: int, embed_dim: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.hyper = HyperModel(
            nn.Linear(d_in, num_experts), condition=Static(embed_dim), generator="mlp", generator_kwargs={"hidden": [hidden]}
        )
        self.hyper.generator.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hyper(x)

    def linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The generated gate as ``(weight (E, d_in), bias (E,))``."""
        w = self.hyper.generate()
        return w["weight"], w["bias"]


class EmbeddingRouter(nn.Module):
    """HMOE's gate: ``logits[n, j] = <W x_n, e_j> / sqrt(dim)`` against the expert embeddings ``e_j``.

    The embeddings are passed at each call (they belong to the experts and are trained with them).

    Args:
        d_in: token width.
        dim: size of the expert embeddings.
    """

    def __init__(self, d_in: int, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_in, dim)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, x: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return self.query(x) @ embeddings.t() * self.scale

    def linear(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gate as one linear map ``(weight (E, d_in), bias (E,))`` for the given expert embeddings."""
        return self.scale * embeddings @ self.query.weight, self.scale * embeddings @ self.query.bias
