"""Support-set condition: a permutation-invariant encoder of a labelled set (DeepSets)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._nn import mlp
from ..errors import ConditionError, describe
from ._base import Condition, Split, check_positive, normalise_output_


class SetEncoder(Condition):
    """Embeds a labelled support set ``(X, y)`` into one vector, invariant to the order of its rows.

    Each row is encoded from ``[x, one_hot(y)]`` by an MLP, rows are averaged
    (DeepSets), and a second MLP maps the average to the embedding.

    ``cond=(X, y)`` with ``X`` of shape ``(N, x_dim)`` and integer ``y`` of shape
    ``(N,)`` in ``[0, n_classes)`` gives one weight set. A batch of ``T`` sets,
    ``X (T, N, x_dim)`` and ``y (T, N)``, gives ``T`` weight sets; then the model's
    input must have a leading dimension ``T`` (one query batch per set). Rows
    labelled ``-1`` are padding and ignored, so sets of different sizes can share
    one batch.

    Example:
        >>> import torch, hypernet as hn
        >>> enc = hn.SetEncoder(x_dim=4, n_classes=3, dim=8)
        >>> X, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
        >>> s = enc.split((X, y))
        >>> torch.allclose(enc(s.values), enc(enc.split((X.flip(0), y.flip(0))).values), atol=1e-6)
        True
    """

    kind = "labelled support set"

    def __init__(self, x_dim: int, n_classes: int, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.x_dim = check_positive("x_dim", x_dim, "SetEncoder")
        self.n_classes = check_positive("n_classes", n_classes, "SetEncoder")
        self.dim = check_positive("dim", dim, "SetEncoder")
        self.hidden = check_positive("hidden", hidden, "SetEncoder")
        self.phi = mlp([x_dim + n_classes, hidden, hidden], final_activation=True)
        self.rho: nn.Sequential = mlp([hidden, hidden, dim])
        with torch.no_grad():
            X = torch.randn(64, 16, x_dim)
            y = torch.randint(0, n_classes, (64, 16))
            normalise_output_(self.rho, self._pool(X, y))

    def extra_repr(self) -> str:
        return f"x_dim={self.x_dim}, n_classes={self.n_classes}, dim={self.dim}"

    def split(self, cond: Any, samples: int | None = None) -> Split:
        self._no_samples(samples)
        hint = f"pass (X, y) with X float (N, {self.x_dim}) and y int (N,) in [0, {self.n_classes})"
        if not (isinstance(cond, (tuple, list)) and len(cond) == 2):
            raise ConditionError(f"expected a support set (X, y), got {describe(cond)}; {hint}")
        X, y = cond
        if not isinstance(X, torch.Tensor) or not X.dtype.is_floating_point:
            raise ConditionError(f"expected X to be a float tensor, got {describe(X)}; {hint}")
        if not isinstance(y, torch.Tensor) or y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ConditionError(f"expected y to be an integer tensor, got {describe(y)}; {hint}")
        if X.dim() not in (2, 3) or X.shape[-1] != self.x_dim or y.shape != X.shape[:-1]:
            raise ConditionError(
                f"expected X (N, {self.x_dim}) with y (N,) (or a batch (T, N, ...)), got X {describe(X)} and y {describe(y)}; {hint}"
            )
        self._check_device(X, "X")
        self._check_device(y, "y")
        valid = y >= 0
        if X.shape[-2] == 0 or not bool(valid.any(dim=-1).all()):
            raise ConditionError(f"expected a non-empty support set, got {describe(X)} with no labelled row; {hint}")
        if bool((y < -1).any()) or bool((y >= self.n_classes).any()):
            raise ConditionError(
                f"expected labels in [0, {self.n_classes}) (or -1 for padding), got values in [{int(y.min())}, {int(y.max())}]; "
                f"remap labels or build SetEncoder(n_classes={int(y.max()) + 1}, ...)"
            )
        if not bool(torch.isfinite(X).all()):
            raise ConditionError(f"expected finite X, got NaN or inf in {describe(X)}; clean the support set")
        X = X.to(next(self.rho.parameters()).dtype)
        if X.dim() == 2:
            return Split((X.unsqueeze(0), y.unsqueeze(0)), None, "single", 1)
        return Split((X, y), None, "grouped", X.shape[0])

    def _pool(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        valid = (y >= 0).to(X.dtype).unsqueeze(-1)
        onehot = nn.functional.one_hot(y.clamp(min=0).long(), self.n_classes).to(X.dtype)
        h = self.phi(torch.cat([X, onehot], dim=-1)) * valid
        return h.sum(dim=-2) / valid.sum(dim=-2)

    def forward(self, values: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        X, y = values
        return self.rho(self._pool(X, y))
