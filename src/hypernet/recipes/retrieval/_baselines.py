"""The baselines of the retrieval benchmark, trained by the same code path as :class:`~.hypencoder.Hypencoder`.

* :class:`BiEncoder`: one vector per query and document (pooled, L2-normalised), inner product
  (cosine), scores divided by ``temperature`` in training (0.05, sentence-transformers' scale 20).
* :class:`LateInteraction`: ColBERT-style; every token becomes a ``dim``-wide L2-normalised vector
  (a trained linear map), score = sum over query tokens of the best inner product with a document token
  (MaxSim). Documents store their token vectors.

Example:
    >>> import torch
    >>> q = (torch.nn.functional.normalize(torch.randn(2, 3, 4), dim=-1), torch.ones(2, 3, dtype=torch.long))
    >>> d = (torch.nn.functional.normalize(torch.randn(5, 6, 4), dim=-1), torch.ones(5, 6, dtype=torch.long))
    >>> s = maxsim(q, d)
    >>> torch.allclose(s[1, 2], (q[0][1] @ d[0][2].T).max(dim=1).values.sum())
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._dual import DualEncoder, Features
from ._encode import pool

TokenVectors = tuple[torch.Tensor, torch.Tensor]


class BiEncoder(DualEncoder):
    """Inner product of pooled, normalised vectors (a fine-tuned bi-encoder; frozen, it is the encoder's cosine)."""

    def __init__(self, encoder: nn.Module, tokenizer: Any, *, temperature: float = 0.05, **kw: Any):
        super().__init__(encoder, tokenizer, **kw)
        self.temperature = temperature

    def query_repr(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(pool(hidden, mask, self.pooling), dim=-1)

    def doc_repr(self, features: Features) -> torch.Tensor:
        return F.normalize(features[0], dim=-1)

    def scores(self, queries: torch.Tensor, docs: torch.Tensor) -> torch.Tensor:
        return queries @ docs.T


def maxsim(queries: TokenVectors, docs: TokenVectors, *, chunk: int = 64) -> torch.Tensor:
    """``(Q, N)`` late-interaction scores of token vectors ``(vectors (B, L, p), mask (B, L))``, in chunks of documents."""
    qv, qm = queries
    dv, dm = docs
    out = []
    for s in range(0, dv.shape[0], chunk):
        sim = torch.einsum("qip,njp->qnij", qv, dv[s : s + chunk])
        sim = sim.masked_fill(dm[s : s + chunk][None, :, None, :] == 0, float("-inf")).max(dim=-1).values
        out.append((sim * qm[:, None, :].to(sim.dtype)).sum(-1))
    return torch.cat(out, dim=1)


class LateInteraction(DualEncoder):
    """ColBERT-style MaxSim over ``dim``-wide token vectors (a trained projection of the encoder's tokens)."""

    def __init__(self, encoder: nn.Module, tokenizer: Any, *, dim: int = 128, temperature: float = 1.0, **kw: Any):
        super().__init__(encoder, tokenizer, **kw)
        self.temperature = temperature
        self.proj = nn.Linear(self.width, dim)

    def query_repr(self, hidden: torch.Tensor, mask: torch.Tensor) -> TokenVectors:
        return F.normalize(self.proj(hidden), dim=-1), mask

    def doc_features(self, hidden: torch.Tensor, mask: torch.Tensor) -> Features:
        return hidden.to(torch.bfloat16), mask

    def doc_repr(self, features: Features) -> TokenVectors:
        hidden, mask = features
        width = int(mask.sum(1).max())
        return F.normalize(self.proj(hidden[:, :width].float()), dim=-1), mask[:, :width]

    def scores(self, queries: TokenVectors, docs: TokenVectors) -> torch.Tensor:
        return maxsim(queries, docs)
