"""Gated generator: per-unit gates from the condition scale a learned tensor (STN-style best response).

MacKay et al. ("Self-Tuning Networks", 2019) model how the best weights respond to a
hyperparameter as ``W(λ) = W0 + gate(λ) ⊙_row V``: a full learned matrix ``V`` whose rows
(one per output unit) are scaled by gates computed from ``λ``. With the model's residual
parametrization (``init="mip"``) ``W0`` is the trainable base, so this generator only emits
``gate ⊙ V``. Gates come from a shared MLP over ``[embedding, layer embedding]`` (the layer's
position) with one small head per tensor, so generating costs about one elementwise pass over
the weights: the per-sample path stays cheap enough for a sweep's per-batch sampling.

With ``gain=True`` (what ``HyperparameterSweep`` uses) each output unit also gets a multiplicative gain on the
base, ``W(λ) = W0 ⊙ (1 + tanh(s(λ)))_row + gate(λ) ⊙_row V``: a strong L2 strength can then
shrink whole rows of the base towards zero (the additive form alone has to learn ``V ≈ -W0``
for that). The gain needs the model's residual base, which :meth:`GatedGenerator.attach_base`
comes in with every call: the generator declares ``needs_base = True`` and the model calls it
as ``generator(emb, base=model.base, scale=model.scale)``; called on its own without them, the
gain term is left out.

Registered as ``"gated"``; ``HyperparameterSweep`` and ``ArchitectureSearch`` use it by default.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> model = hn.HyperModel(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)),
    ...                       condition=hn.Continuous(1, 8, encoding="mip"), generator=GatedGenerator(), init="mip")
    >>> model.generator(torch.randn(5, 8)).shape
    torch.Size([5, 23])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._base import EmbeddedTrunk, Generator, check_positive_int, check_sizes
from ._registry import register_generator

__all__ = ["GatedGenerator"]


@register_generator("gated")
class GatedGenerator(Generator):
    """``Σ_k gate_k(c, t) ⊙ V_tk / √rank`` for every weight matrix t, full values for 1-d tensors (biases).

    Args:
        hidden: hidden widths of the shared MLP over ``[embedding, layer embedding]``.
        layer_dim: size of the learned per-tensor (layer position) embeddings.
        rank: gated directions per matrix (``rank`` learned tensors ``V_tk``); 1 is the STN form,
            more let several hyperparameters move the weights along different directions.
        gain: a per-row multiplicative gain on the residual base (see the module docstring).
    """

    default_parametrization = "residual"
    needs_base = True  # the model passes its flat residual base and output scale to every call

    def __init__(self, hidden: Sequence[int] = (32,), layer_dim: int = 8, rank: int = 1, gain: bool = False) -> None:
        super().__init__()
        self.hidden = check_sizes("GatedGenerator", "hidden", hidden)
        self.layer_dim = check_positive_int("GatedGenerator", "layer_dim", layer_dim)
        self.rank = check_positive_int("GatedGenerator", "rank", rank)
        self.gain = bool(gain)

    def build(self) -> None:
        tensors = self.spec.tensors
        self.trunk = EmbeddedTrunk(self.cond_dim, len(tensors), self.layer_dim, self.hidden)
        heads: list[nn.Linear] = []
        values: list[nn.Parameter | None] = []
        self.views: list[tuple[int, ...]] = []
        for t in tensors:
            if t.is_matrix:
                heads.append(nn.Linear(self.hidden[-1], self.rank * t.shape[0]))
                values.append(nn.Parameter(torch.randn(self.rank, *t.storage_shape)))
                # gates run along the output units: the last storage dim of a transposed Linear weight, else the first
                rest = len(t.storage_shape) - 1
                self.views.append((1,) * rest + (-1,) if t.transposed else (-1,) + (1,) * rest)
            else:
                heads.append(nn.Linear(self.hidden[-1], t.numel))
                values.append(None)
                self.views.append(())
        self.heads = nn.ModuleList(heads)
        # per-row gains on the base (zero at the start: tanh(0) = 0), matrices only
        gains = [nn.Linear(self.hidden[-1], t.shape[0]) for t in tensors if t.is_matrix and self.gain]
        for layer in gains:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.gains = nn.ModuleList(gains)
        self.values = nn.ParameterList([v for v in values if v is not None])
        self._value_index = [None if v is None else sum(w is not None for w in values[:i]) for i, v in enumerate(values)]

    def extra_repr(self) -> str:
        if not self.is_bound:
            return "unbound"
        return f"hidden={self.hidden}, layer_dim={self.layer_dim}, rank={self.rank}, gain={self.gain}"

    def _add_gain(
        self, part: torch.Tensor, h: torch.Tensor, t: int, index: int, view: tuple[int, ...], base: torch.Tensor, inverse: torch.Tensor
    ) -> torch.Tensor:
        """``part + tanh(s) ⊙_row W0 / scale`` for matrix ``t``: after the model's ``base + raw * scale``, a row gain on W0."""
        spec = self.spec.tensors[t]
        cut = slice(spec.offset, spec.offset + spec.numel)
        ratio = (base[cut] * inverse[cut]).view(spec.storage_shape)
        gains = torch.tanh(self.gains[index](h[:, t]))  # (n, rows)
        gains = gains.view(len(h), *[gains.shape[1] if v == -1 else 1 for v in view])
        return torch.addcmul(part.view(len(h), *spec.storage_shape), gains, ratio).view(len(h), -1)

    def forward(self, emb: torch.Tensor, base: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> torch.Tensor:
        """``(U, n_generated)`` raw outputs; ``base`` and ``scale`` (the model's flat residual base and output scale) enable the gain."""
        h = self.trunk(emb)  # (U, T, hidden)
        n = emb.shape[0]
        gain = self.gain and base is not None and scale is not None
        inverse = torch.where(scale != 0, scale.reciprocal(), 0.0).detach() if gain and scale is not None else None
        parts = []
        for t, (head, view, index) in enumerate(zip(self.heads, self.views, self._value_index, strict=True)):
            out = head(h[:, t])
            if index is None:
                parts.append(out)
            else:
                value = self.values[index]
                gated = out.view(n, self.rank, *view) * value
                part = (gated[:, 0] if self.rank == 1 else gated.sum(1) * self.rank**-0.5).reshape(n, -1)
                if gain and base is not None and inverse is not None:  # a zero scale (nothing generated there): no gain
                    part = self._add_gain(part, h, t, index, view, base, inverse)
                parts.append(part)
        return torch.cat(parts, dim=-1)

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        h = self.trunk(probe)
        return [(head, h[:, t]) for t, head in enumerate(self.heads)]  # type: ignore[misc]
