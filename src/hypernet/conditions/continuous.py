"""Continuous condition: a real vector (hyperparameters, architecture code, ...)."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from .._limits import check_allocation
from .._nn import mlp
from .._validation import check_int
from ..errors import ConditionError, ConfigError, describe
from ._base import Condition, Split, check_positive, normalise_output_


class Continuous(Condition):
    """Embeds a float vector of size ``in_dim`` with a small MLP.

    Args:
        in_dim: size of the condition vector.
        dim: size of the embedding.
        fourier: number of random Fourier features added to the input (0 = none).
        encoding: ``"identity"`` or ``"mip"``; ``"mip"`` feeds ``[x, 1 - x]`` so the
            input norm does not grow with ``x`` (magnitude-invariant parametrization,
            Ortiz et al. 2023; expects ``x`` scaled to ``[0, 1]``).
        hidden: width of the MLP's hidden layer.

    A ``(in_dim,)`` tensor (or a float when ``in_dim == 1``) gives one weight set;
    ``(B, in_dim)`` one per sample (equal rows share one, unless the condition
    requires grad, in which case every row keeps its own exact gradient).

    Example:
        >>> import torch, hypernet as hn
        >>> cond = hn.Continuous(in_dim=2, dim=8, fourier=4)
        >>> cond.split(torch.tensor([[0.1, 0.2], [0.1, 0.2], [0.3, 0.4]])).count
        2
        >>> cond(torch.rand(3, 2)).shape
        torch.Size([3, 8])
    """

    kind = "continuous vector"
    frequencies: torch.Tensor

    def __init__(
        self,
        in_dim: int,
        dim: int,
        fourier: int = 0,
        encoding: Literal["identity", "mip"] = "identity",
        hidden: int = 64,
    ) -> None:
        super().__init__()
        self.in_dim = check_positive("in_dim", in_dim, "Continuous")
        self.dim = check_positive("dim", dim, "Continuous")
        check_int(fourier, "fourier", low=0, owner="Continuous")
        if encoding not in ("identity", "mip"):
            raise ConfigError(f"expected Continuous(encoding=...) in ('identity', 'mip'), got {encoding!r}; pass one of them")
        self.fourier = fourier
        self.encoding = encoding
        self.hidden = check_positive("hidden", hidden, "Continuous")
        check_allocation(fourier * in_dim, "Continuous(fourier=..., in_dim=...)", f"got fourier={fourier}; use fewer Fourier features")
        self.register_buffer("frequencies", torch.randn(fourier, in_dim))
        self._build_net()

    def _build_net(self) -> None:
        enc_dim = self.in_dim * (2 if self.encoding == "mip" else 1) + 2 * self.fourier
        device = self.frequencies.device
        self.net = mlp([enc_dim, self.hidden, self.dim]).to(device)
        normalise_output_(self.net, self.encode(torch.rand(512, self.in_dim, device=device)))

    def set_encoding_(self, encoding: Literal["identity", "mip"]) -> Continuous:
        """Switch the input encoding, rebuilding the (untrained) MLP; used by ``init="mip"``."""
        if encoding not in ("identity", "mip"):
            raise ConfigError(f"expected encoding in ('identity', 'mip'), got {encoding!r}; pass one of them")
        if encoding != self.encoding:
            self.encoding = encoding
            self._build_net()
        return self

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, dim={self.dim}, fourier={self.fourier}, encoding={self.encoding!r}"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Input features: ``x`` (or ``[x, 1-x]``) plus optional Fourier features."""
        parts = [x, 1 - x] if self.encoding == "mip" else [x]
        if self.fourier:
            angle = 2 * math.pi * x @ self.frequencies.T
            parts += [angle.sin(), angle.cos()]
        return torch.cat(parts, dim=-1) if len(parts) > 1 else x

    def split(self, cond: Any, samples: int | None = None) -> Split:
        self._no_samples(samples)
        device = self._device()
        dtype = self.frequencies.dtype
        hint = f"pass a float tensor of shape ({self.in_dim},) or (B, {self.in_dim})"
        if isinstance(cond, np.ndarray) and cond.dtype.kind in "fiu":
            cond = torch.as_tensor(cond, device=device, dtype=dtype)
        elif isinstance(cond, (np.floating, np.integer)):
            cond = float(cond)
        if isinstance(cond, (int, float)) and not isinstance(cond, bool) and self.in_dim == 1:
            cond = torch.tensor([float(cond)], device=device, dtype=dtype)
        if not isinstance(cond, torch.Tensor):
            raise ConditionError(f"expected a {self.kind}, got {describe(cond)}; {hint}")
        if not cond.dtype.is_floating_point:
            raise ConditionError(f"expected a floating-point condition, got {describe(cond)}; {hint} (e.g. cond.float())")
        if cond.dim() == 2 and cond.shape == (0, self.in_dim):  # an empty batch: one (unused) weight set
            self._check_device(cond, "the condition")
            return Split(cond.new_zeros(1, self.in_dim).to(dtype), None, "single", 1, batch=0)
        if cond.dim() not in (1, 2) or cond.shape[-1] != self.in_dim or cond.numel() == 0:
            raise ConditionError(f"expected a condition of shape ({self.in_dim},) or (B, {self.in_dim}), got {describe(cond)}; {hint}")
        self._check_device(cond, "the condition")
        if not bool(torch.isfinite(cond).all()):
            raise ConditionError(f"expected finite condition values, got NaN or inf in {describe(cond)}; clean the input")
        cond = cond.to(dtype)
        if cond.dim() == 1:
            return Split(cond.unsqueeze(0), None, "single", 1)
        if cond.requires_grad:
            return Split(cond, torch.arange(cond.shape[0], device=device), "per_sample", cond.shape[0])
        unique, inverse = torch.unique(cond, dim=0, return_inverse=True)
        if unique.shape[0] == 1:
            return Split(unique, None, "single", 1, batch=cond.shape[0])
        return Split(unique, inverse, "per_sample", unique.shape[0])

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.net(self.encode(values))
