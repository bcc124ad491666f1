"""Shared-head generator: one output head per kind of tensor, shared by every layer (Text-to-LoRA's design)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from ._base import EmbeddedTrunk, Generator, check_positive_int, check_sizes
from ._registry import register_generator

_LAYER_INDEX = re.compile(r"(?<![^.])\d+(?=\.)")  # a whole dotted component of digits


def tensor_kind(name: str, shape: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """``(name with layer indices replaced by '#', shape)``: tensors of one kind share an output head.

    Example:
        >>> tensor_kind("model.layers.7.self_attn.q_proj.lora_A.default.weight", (8, 576))
        ('model.layers.#.self_attn.q_proj.lora_A.default.weight', (8, 576))
    """
    return _LAYER_INDEX.sub("#", name), tuple(shape)


@register_generator("shared")
class SharedHeadGenerator(Generator):
    """A shared MLP over ``[embedding, key_t]`` for every tensor t, and one linear head per *kind* of tensor.

    Tensors whose names differ only in a layer index and that have the same shape (every layer's
    ``q_proj.lora_A``, say) form one kind and share one head; each tensor's learned key (its layer
    embedding) tells the head which layer it is generating. This is how Text-to-LoRA generates the
    LoRA of a deep transformer with a hypernetwork whose size does not grow with the depth: the heads
    hold ``hidden[-1] * (numel of one tensor of each kind)`` parameters.

    Args:
        layer_dim: size of the learned per-tensor keys.
        hidden: hidden widths of the shared MLP (at least one).

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> target = nn.Sequential(*[nn.Linear(6, 6) for _ in range(10)])
        >>> model = hn.HyperModel(target, condition=hn.Embedding(2, 8), generator="shared")
        >>> len(model.generator.heads), model.generator(torch.randn(2, 8)).shape   # weight and bias kinds
        (2, torch.Size([2, 420]))
    """

    def __init__(self, layer_dim: int = 16, hidden: Sequence[int] = (64,)) -> None:
        super().__init__()
        self.layer_dim = check_positive_int("SharedHeadGenerator", "layer_dim", layer_dim)
        self.hidden = check_sizes("SharedHeadGenerator", "hidden", hidden)

    def build(self) -> None:
        tensors = self.spec.tensors
        kinds: dict[tuple[str, tuple[int, ...]], list[int]] = {}
        for i, t in enumerate(tensors):
            kinds.setdefault(tensor_kind(t.name, t.shape), []).append(i)
        self.kinds = list(kinds)
        self.members = [torch.tensor(idx) for idx in kinds.values()]
        # where tensor i sits in its kind's output: (kind, row)
        self.place = [(0, 0)] * len(tensors)
        for k, idx in enumerate(kinds.values()):
            for row, i in enumerate(idx):
                self.place[i] = (k, row)
        self.trunk = EmbeddedTrunk(self.cond_dim, len(tensors), self.layer_dim, self.hidden)
        self.heads = nn.ModuleList(nn.Linear(self.hidden[-1], tensors[idx[0]].numel) for idx in kinds.values())

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        h = self.trunk(emb)  # (U, T, hidden)
        per_kind = [head(h[:, members]) for head, members in zip(self.heads, self.members, strict=True)]  # (U, n_k, numel_k)
        return torch.cat([per_kind[k][:, row] for k, row in self.place], dim=-1)

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        h = self.trunk(probe)
        return [(head, h[:, members].reshape(-1, h.shape[-1])) for head, members in zip(self.heads, self.members, strict=True)]  # type: ignore[misc]
