"""Low-rank generator: each matrix gets a rank-r update ``U @ V.T`` (LoRA / HyperDreamBooth style)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._base import Generator, check_positive_int, check_sizes, trunk_mlp
from ._registry import register_generator


@register_generator("lowrank")
class LowRankGenerator(Generator):
    """Generates ``U @ V.T`` (rank ``rank``) for every matrix and full values for 1-d tensors.

    Its default parametrization is ``"residual"``: the model's weights are
    ``w0 + scale * U @ V.T`` with ``w0`` a trainable copy of the target's weights.
    Conv kernels are treated as ``(out, in * k * k)`` matrices, Linear weights as their transpose.

    Args:
        rank: rank of each update.
        hidden: hidden widths of the MLP that emits the factors.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> model = hn.HyperModel(nn.Linear(6, 4), condition=hn.Embedding(2, 8),
        ...                       generator=hn.create_generator("lowrank", rank=2))
        >>> model.parametrization, model.generator.num_factor_outputs
        ('residual', 24)
    """

    default_parametrization = "residual"
    _zeroable: torch.Tensor

    def __init__(self, rank: int = 4, hidden: Sequence[int] = (64,)) -> None:
        super().__init__()
        self.rank = check_positive_int("LowRankGenerator", "rank", rank)
        self.hidden = check_sizes("LowRankGenerator", "hidden", hidden, allow_empty=True)

    def build(self) -> None:
        # per tensor: (rows, cols) for a matrix, or None for a 1-d tensor emitted in full
        self.layout: list[tuple[int, int] | None] = []
        sizes: list[int] = []
        u_mask: list[torch.Tensor] = []
        for t in self.spec.tensors:
            if t.is_matrix:
                rows, cols = t.matrix_shape
                self.layout.append((rows, cols))
                sizes.append(self.rank * (rows + cols))
                u_mask += [torch.ones(self.rank * rows, dtype=torch.bool), torch.zeros(self.rank * cols, dtype=torch.bool)]
            else:
                self.layout.append(None)
                sizes.append(t.numel)
                u_mask.append(torch.ones(t.numel, dtype=torch.bool))
        self.factor_sizes = sizes
        self.num_factor_outputs = sum(sizes)
        self.register_buffer("_zeroable", torch.cat(u_mask), persistent=False)
        self.trunk = trunk_mlp([self.cond_dim, *self.hidden])
        self.out = nn.Linear(([self.cond_dim, *self.hidden])[-1], self.num_factor_outputs)

    def extra_repr(self) -> str:
        return f"rank={self.rank}"

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        factors = self.out(self.trunk(emb)).split(self.factor_sizes, dim=-1)
        n = emb.shape[0]
        parts = []
        for layout, f in zip(self.layout, factors, strict=True):
            if layout is None:
                parts.append(f)
                continue
            rows, cols = layout
            u, v = f.split([self.rank * rows, self.rank * cols], dim=-1)
            delta = torch.bmm(u.view(n, rows, self.rank), v.view(n, cols, self.rank).transpose(1, 2))
            parts.append(delta.reshape(n, rows * cols))
        return torch.cat(parts, dim=-1)

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        return [(self.out, self.trunk(probe))]

    @torch.no_grad()
    def calibrate_(self) -> None:
        """Unit-variance products: each factor gets std ``rank ** -0.25``; 1-d outputs std 1."""
        super().calibrate_()
        factor_std = torch.ones(self.num_factor_outputs)
        offset = 0
        for layout, size in zip(self.layout, self.factor_sizes, strict=True):
            if layout is not None:
                factor_std[offset : offset + size] = self.rank**-0.25
            offset += size
        self.out.weight.mul_(factor_std.to(self.out.weight).unsqueeze(1))

    @torch.no_grad()
    def zero_output_(self) -> None:
        """Zero the U factors (and 1-d outputs) only, so ``U @ V.T = 0`` but gradients still reach U."""
        self.out.weight[self._zeroable] = 0
        self.out.bias[self._zeroable] = 0
