"""The q-net: the small scoring network a Hypencoder generates for each query, applied to document vectors.

A q-net with ``dims = [d, h, ..., h, 1]`` is, for one query and one document vector ``x`` (as in
the paper's ``RepeatedDenseBlockConverter``, ReLU, layer norm before the residual):

* each hidden block ``j``: ``y = layer_norm(relu(x @ W_j + b_j))``, then ``x = y + x`` (residual) for every
  block but the last one (when the widths match), else ``x = y``;
* the output: ``score = x @ W_out`` (no bias);
* optionally a linear skip from the document vector to the score, ``+ document @ skip`` (``skip`` is
  generated too: a Hypencoder with ``skip=True`` makes it the query's own pooled, normalised vector, so
  the q-net starts as the encoder's cosine and learns what an inner product cannot express).

Weights come batched over queries: ``weights[j]`` is ``(Q, in, out)``, ``biases[j]`` is ``(Q, out)``.

Example:
    >>> import torch
    >>> w = QNetWeights([torch.randn(2, 4, 4), torch.randn(2, 4, 1)], [torch.randn(2, 4)])
    >>> qnet_scores(w, torch.randn(5, 4)).shape       # 2 queries x 5 shared documents
    torch.Size([2, 5])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import ConfigError


@dataclass
class QNetWeights:
    """Generated q-net parameters of ``Q`` queries: ``weights[j]`` ``(Q, in, out)``; ``biases[j]`` ``(Q, out)`` (hidden blocks only)."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    skip: torch.Tensor | None = None  # (Q, d): a linear term document @ skip added to every score

    @property
    def num_queries(self) -> int:
        """``Q``."""
        return int(self.weights[0].shape[0])

    @property
    def input_dim(self) -> int:
        """The document vector width ``d``."""
        return int(self.weights[0].shape[1])

    def select(self, rows: torch.Tensor | slice | list[int]) -> QNetWeights:
        """The q-nets of some queries."""
        n = self.num_queries
        ok = (
            isinstance(rows, slice)
            or (isinstance(rows, torch.Tensor) and rows.dim() == 1 and (rows.dtype == torch.long or rows.dtype == torch.bool))
            or (isinstance(rows, list) and all(isinstance(r, int) and not isinstance(r, bool) for r in rows))
        )
        if ok and not isinstance(rows, slice) and not (isinstance(rows, torch.Tensor) and rows.dtype == torch.bool):
            index = torch.as_tensor(rows, dtype=torch.long)
            ok = bool(((index >= -n) & (index < n)).all())
        if ok and isinstance(rows, torch.Tensor) and rows.dtype == torch.bool:
            ok = len(rows) == n
        if not ok:
            raise ConfigError(f"expected rows as a slice, a list of ints in [-{n}, {n}) or an index tensor, got {rows!r}; pass e.g. [0]")
        return QNetWeights([w[rows] for w in self.weights], [b[rows] for b in self.biases], None if self.skip is None else self.skip[rows])

    def to(self, dtype: torch.dtype) -> QNetWeights:
        """The same q-nets in another dtype (for example bfloat16 for fast scoring)."""
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ConfigError(f"expected a float torch.dtype, got {dtype!r}; pass e.g. torch.bfloat16")
        skip = None if self.skip is None else self.skip.to(dtype)
        return QNetWeights([w.to(dtype) for w in self.weights], [b.to(dtype) for b in self.biases], skip)

    def detach(self) -> QNetWeights:
        """Detached copies (for search)."""
        skip = None if self.skip is None else self.skip.detach()
        return QNetWeights([w.detach() for w in self.weights], [b.detach() for b in self.biases], skip)


def qnet_scores(weights: QNetWeights, docs: torch.Tensor) -> torch.Tensor:
    """Scores ``(Q, N)`` of ``Q`` q-nets on document vectors ``docs``: ``(N, d)`` shared by every query, or ``(Q, N, d)``.

    The shared case does the first layer of all queries as one matrix product.
    """
    n_hidden = len(weights.biases)
    linear = None
    if weights.skip is not None:  # in float32 even for bfloat16 scoring: skip scores sit near 20, where bf16 steps are 0.125
        d32, s32 = docs.float(), weights.skip.float()
        linear = (d32 @ s32.T).T if docs.dim() == 2 else torch.einsum("qnd,qd->qn", d32, s32)
    x = docs
    for j in range(n_hidden):
        w = weights.weights[j]
        if x.dim() == 2:  # shared documents: every query's first layer in one matrix product
            q, d, h = w.shape
            y = (x @ w.permute(1, 0, 2).reshape(d, q * h)).reshape(-1, q, h).transpose(0, 1)
        else:
            y = x @ w
        y = F.layer_norm(torch.relu(y + weights.biases[j].unsqueeze(1)), (y.shape[-1],))
        x = y + x if j < n_hidden - 1 and y.shape[-1] == x.shape[-1] else y
    if x.dim() == 2:  # no hidden block
        x = x.unsqueeze(0)
    out = (x @ weights.weights[-1]).squeeze(-1)
    return out if linear is None else out.float() + linear
