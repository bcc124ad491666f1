"""The recipe's condition for the core's :class:`~hypernet.HyperModel`: one row of inputs per sample, deduplicated.

The recipe turns each sample's task into a row: a one-hot task index (``encoder="index"``: a
learned task embedding, HyperFormer; ``"onehot"``: the one-hot itself, for the per-task / shared
factor tables) or the standardised embedding of the task's description (``"linear"``:
Text-to-LoRA). :meth:`RowCondition.split` reduces a ``(B, in_dim)`` batch to its unique rows, so
each task's adapter is generated once per call, and the core runs the mixed batch per sample.

Example:
    >>> import torch
    >>> cond = RowCondition("index", in_dim=3, dim=4)
    >>> split = cond.split(torch.eye(3)[[0, 2, 0]])
    >>> split.mode, split.count, split.inverse.tolist(), tuple(cond(split.values).shape)
    ('per_sample', 2, [1, 0, 1], (2, 4))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...conditions import Condition
from ...conditions._base import Split
from ...errors import ConditionError, describe


class RowCondition(Condition):
    """Rows ``(B, in_dim)`` -> embeddings of the unique rows: ``"index"`` (argmax -> learned embedding), ``"linear"`` or ``"onehot"``."""

    kind = "row condition"

    def __init__(self, encoder: str, in_dim: int, dim: int):
        super().__init__()
        self.encoder, self.in_dim = encoder, in_dim
        self.embedding: nn.Embedding | None = None
        self.linear: nn.Linear | None = None
        if encoder == "index":
            self.embedding = nn.Embedding(in_dim, dim)
            nn.init.normal_(self.embedding.weight, 0.0, 1.0)
        elif encoder == "linear":
            self.linear = nn.Linear(in_dim, dim)
        else:
            dim = in_dim
        self.dim = dim

    def split(self, cond: Any, samples: int | None = None) -> Split:
        self._no_samples(samples)
        if not isinstance(cond, torch.Tensor) or cond.dim() != 2 or cond.shape[1] != self.in_dim or not cond.is_floating_point():
            raise ConditionError(
                f"expected a float tensor (B, {self.in_dim}) of condition rows, got {describe(cond)}; "
                f"pass a float tensor (B, {self.in_dim}) of condition rows"
            )
        unique, inverse = torch.unique(cond, dim=0, return_inverse=True)
        if unique.shape[0] == 1:
            return Split(unique, None, "single", 1, batch=cond.shape[0])
        return Split(unique, inverse, "per_sample", unique.shape[0])

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding(values.argmax(-1))
        if self.linear is not None:
            return self.linear(values)
        return values
