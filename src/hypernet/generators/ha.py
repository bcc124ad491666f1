"""Ha et al.'s static hypernetwork (2016, §3.1): one shared generator emits fixed-size kernel blocks from per-block embeddings."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._base import Generator, check_positive_int
from ._registry import register_generator


@register_generator("ha")
class HaGenerator(Generator):
    """Every generated tensor is cut into blocks of ``block_size`` values; block b is ``W_out a_b + B_out``.

    Each block has a learned embedding ``z_b`` (``block_dim`` values); the shared
    generator maps ``[z_b, c]`` (``c`` the condition's embedding) to a code ``a_b``
    of size ``hidden`` with one linear layer, and ``a_b`` to the block's weights
    with a second linear layer shared by every block of every tensor. With
    ``activation=False`` this is Ha et al.'s two-layer *linear* hypernetwork:
    every block is a linear combination of ``hidden`` shared patterns, so the
    parameter count is about ``n_blocks * block_dim + hidden * block_size``
    instead of the target's ``n_blocks * block_size``. Blocks never straddle
    two tensors (a tensor's last block is padded), so a block is a piece of one
    layer, e.g. ``block_size=k*k`` gives one block per conv kernel (Ha et al.'s
    ResNet tiling) and ``block_size=out*k*k`` one per input channel (their MNIST
    network).

    Args:
        block_size: values per block (the output width of the shared layer).
        block_dim: size of the per-block embeddings ``z_b`` (Ha et al.'s ``N_z``).
        hidden: size of the code ``a_b`` (Ha et al.'s ``d``); ``None`` takes
            ``block_dim`` (with the linear map a larger code adds parameters but no
            expressiveness).
        activation: put a ReLU between the two layers (a small MLP instead of
            the paper's linear map).
        decorrelate: give every output element a fixed random sign (folded into
            the model's scale), so blocks do not all start as copies of the same
            few patterns.
        per_tensor: one output layer per generated tensor instead of one shared by
            all (conv kernels and linear-layer maps then get their own patterns).

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> target = nn.Sequential(nn.Conv2d(1, 16, 7, padding=3), nn.ReLU(), nn.Conv2d(16, 16, 7, padding=3))
        >>> gen = hn.create_generator("ha", block_size=49, block_dim=4, hidden=16)
        >>> model = hn.HyperModel(target, condition=hn.Static(dim=4), generator=gen)
        >>> gen.num_blocks, gen(torch.randn(1, 4)).shape
        (274, torch.Size([1, 13360]))
        >>> round(model.compression, 2)
        0.16
    """

    _keep: torch.Tensor

    def __init__(
        self,
        block_size: int = 64,
        block_dim: int = 4,
        hidden: int | None = None,
        activation: bool = False,
        decorrelate: bool = True,
        per_tensor: bool = False,
    ) -> None:
        super().__init__()
        self.per_tensor = bool(per_tensor)
        self.block_size = check_positive_int("HaGenerator", "block_size", block_size)
        self.block_dim = check_positive_int("HaGenerator", "block_dim", block_dim)
        self.hidden = self.block_dim if hidden is None else check_positive_int("HaGenerator", "hidden", hidden)
        self.activation = bool(activation)
        self.decorrelate = bool(decorrelate)

    def build(self) -> None:
        blocks = [math.ceil(t.numel / self.block_size) for t in self.spec.tensors]
        self.num_blocks = sum(blocks)
        # Blocks are cut from each tensor in PyTorch's layout (a Linear weight as (out, in), so a block runs along
        # the inputs of one output); _keep[p] is where storage position p finds its value in the padded output.
        keep = []
        for t, start in zip(self.spec.tensors, _starts(blocks), strict=True):
            index = torch.arange(t.numel) + start * self.block_size
            keep.append(index.view(t.shape).T.reshape(-1) if t.transposed else index)
        self.register_buffer("_keep", torch.cat(keep), persistent=False)
        self.blocks_per_tensor = blocks
        self.blocks = nn.Parameter(torch.randn(self.num_blocks, self.block_dim))
        self.code = nn.Linear(self.block_dim + self.cond_dim, self.hidden)
        nn.init.kaiming_normal_(self.code.weight, nonlinearity="relu" if self.activation else "linear")
        nn.init.zeros_(self.code.bias)
        self.out = nn.ModuleList(nn.Linear(self.hidden, self.block_size) for _ in range(len(blocks) if self.per_tensor else 1))

    def extra_repr(self) -> str:
        if not self.is_bound:
            return "unbound"
        return f"block_size={self.block_size}, num_blocks={self.num_blocks}, block_dim={self.block_dim}, hidden={self.hidden}"

    def codes(self, emb: torch.Tensor) -> torch.Tensor:
        """The ``(U, num_blocks, hidden)`` codes ``a_b`` of every block for every embedding."""
        w_block, w_cond = self.code.weight.split([self.block_dim, self.cond_dim], dim=1)
        from_blocks = torch.addmm(self.code.bias, self.blocks, w_block.T)  # (num_blocks, hidden)
        a = from_blocks.unsqueeze(0) + (emb @ w_cond.T).unsqueeze(1)
        return torch.relu(a) if self.activation else a

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        codes = self.codes(emb)
        if self.per_tensor:
            parts = codes.split(self.blocks_per_tensor, dim=1)
            padded = torch.cat([head(part) for head, part in zip(self.out, parts, strict=True)], dim=1)
        else:
            padded = self.out[0](codes)
        return padded.flatten(1).index_select(1, self._keep)  # (U, num_blocks * block_size) -> (U, numel)

    def output_signs(self) -> torch.Tensor | None:
        if not self.decorrelate:
            return None
        return torch.randint(0, 2, (self.spec.numel,)).mul_(2).sub_(1).float()

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:
        codes = self.codes(probe)
        if not self.per_tensor:
            return [(self.out[0], codes)]  # type: ignore[list-item]
        return list(zip(self.out, codes.split(self.blocks_per_tensor, dim=1), strict=True))  # type: ignore[arg-type]


def _starts(blocks: list[int]) -> list[int]:
    """Index of each tensor's first block."""
    starts, total = [], 0
    for n in blocks:
        starts.append(total)
        total += n
    return starts
