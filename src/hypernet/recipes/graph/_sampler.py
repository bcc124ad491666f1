"""A DeepNets-1M-like sampler of small CNNs and MLPs for 28x28 grey images (Fashion-MNIST, MNIST).

An :class:`ArchSpec` describes one network: family (``cnn`` or ``mlp``), width and operation of
each block, normalisation (BatchNorm / LayerNorm / none), activation, skip connections
(``residual``: ``h + f(h)`` where widths match; ``dense``: ``cat(h, f(h))``) and where to
downsample. :class:`ArchitectureSampler` draws specs for five splits, like DeepNets-1M:

* ``train`` / ``test``: the same distribution (1-4 blocks, widths 8-32, no / residual / dense skips);
  ``test`` uses other seeds;
* ``wide``: widths 48-96 (never seen in training);
* ``deep``: 6-10 blocks;
* ``dense``: 4-6 blocks, all joined by DenseNet-style concatenation (wider concatenations than in training).

CNNs start with a stride-2 3x3 convolution (14x14 maps) to stay cheap on a CPU; MLPs average-pool
the image to 7x7 before their first linear layer (49 inputs fit one decoded block).

Example:
    >>> import torch
    >>> sampler = ArchitectureSampler("train")
    >>> net = sampler.sample(torch.Generator().manual_seed(0))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> [s.family for s in sampler.specs(3, seed=1)]
    ['mlp', 'mlp', 'cnn']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError

SPLITS = ("train", "test", "wide", "deep", "dense")
_SPLIT_SEED = {"train": 0, "test": 1_000_003, "wide": 2_000_003, "deep": 3_000_017, "dense": 4_000_037}


@dataclass(frozen=True)
class ArchSpec:
    """One sampled architecture (build it with :meth:`build`)."""

    family: str  # "cnn" | "mlp"
    widths: tuple[int, ...]  # stem/first width, then one per block
    ops: tuple[str, ...]  # per block: "conv1" | "conv3" | "conv5" | "sep3" (cnn), "linear" (mlp)
    norm: str  # "bn" | "ln" | "none"
    act: str  # "relu" | "gelu" | "tanh" | "leaky_relu"
    skip: str  # "none" | "residual" | "dense"
    downsample: tuple[bool, ...]  # per block, cnn: max-pool 2x2 after it
    pool: int = 4  # mlp: input average-pool size (4: 7x7 inputs)
    classes: int = 10

    def build(self) -> nn.Module:
        """A fresh ``nn.Module`` of this architecture (PyTorch default initialisation)."""
        return SampledNet(self)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}[name]()


def _norm(name: str, width: int, conv: bool) -> nn.Module:
    if name == "bn":
        return nn.BatchNorm2d(width) if conv else nn.BatchNorm1d(width)
    if name == "ln":
        return nn.GroupNorm(1, width) if conv else nn.LayerNorm(width)
    return nn.Identity()


class _Block(nn.Module):
    def __init__(self, spec: ArchSpec, op: str, c_in: int, c_out: int) -> None:
        super().__init__()
        conv = spec.family == "cnn"
        if not conv:
            body: list[nn.Module] = [nn.Linear(c_in, c_out)]
        elif op == "sep3":
            body = [nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False), nn.Conv2d(c_in, c_out, 1)]
        else:
            k = int(op[-1])
            body = [nn.Conv2d(c_in, c_out, k, padding=k // 2)]
        self.body = nn.Sequential(*body, _norm(spec.norm, c_out, conv), _act(spec.act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SampledNet(nn.Module):
    """The network an :class:`ArchSpec` describes."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        conv = spec.family == "cnn"
        if conv:
            self.stem = nn.Sequential(
                nn.Conv2d(1, spec.widths[0], 3, stride=2, padding=1), _norm(spec.norm, spec.widths[0], True), _act(spec.act)
            )
        else:
            self.stem = nn.Sequential(
                nn.AvgPool2d(spec.pool), nn.Flatten(), nn.Linear((28 // spec.pool) ** 2, spec.widths[0]), _act(spec.act)
            )
        blocks, pools, skips = [], [], []
        width = spec.widths[0]
        for i, op in enumerate(spec.ops):
            out = spec.widths[i + 1]
            blocks.append(_Block(spec, op, width, out))
            skip = spec.skip if spec.skip != "residual" or out == width else "none"
            skips.append(skip)
            width = width + out if skip == "dense" else out
            pools.append(nn.MaxPool2d(2) if conv and spec.downsample[i] else nn.Identity())
        self.blocks = nn.ModuleList(blocks)
        self.pools = nn.ModuleList(pools)
        self.skips = tuple(skips)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if conv else []
        self.head = nn.Sequential(*head, nn.Linear(width, spec.classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block, pool, skip in zip(self.blocks, self.pools, self.skips, strict=True):
            f = block(h)
            if skip == "residual":
                h = h + f
            elif skip == "dense":
                h = torch.cat([h, f], 1)
            else:
                h = f
            h = pool(h)
        return self.head(h)


class ArchitectureSampler:
    """Random :class:`ArchSpec` s of one split (``train``, ``test``, ``wide``, ``deep``, ``dense``).

    Args:
        split: which distribution; ``test`` is ``train``'s distribution drawn from other seeds.
        families: which families to draw (``cnn``, ``mlp``).
        classes: output classes.
    """

    def __init__(self, split: str = "train", families: tuple[str, ...] = ("cnn", "mlp"), classes: int = 10) -> None:
        if split not in SPLITS:
            raise ConfigError(f"expected a split in {SPLITS}, got {split!r}")
        if not families or any(f not in ("cnn", "mlp") for f in families):
            raise ConfigError(f"expected families from ('cnn', 'mlp'), got {families!r}")
        self.split, self.families, self.classes = split, tuple(families), classes

    def spec(self, generator: torch.Generator) -> ArchSpec:
        """One random spec."""

        def pick(options: tuple[Any, ...]) -> Any:
            return options[int(torch.randint(len(options), (1,), generator=generator))]

        family = pick(self.families)
        split = self.split
        depth = pick((6, 7, 8, 9, 10) if split == "deep" else (4, 5, 6) if split == "dense" else (1, 2, 3, 4))
        width_options = (48, 64, 96) if split == "wide" else (8, 16, 24, 32)
        if split == "dense":
            width_options = (8, 12, 16)
        first = pick(width_options)
        widths = [first]
        for _ in range(depth):  # often keep the width (so residual skips apply), else redraw
            widths.append(widths[-1] if float(torch.rand((), generator=generator)) < 0.5 else pick(width_options))
        skip = "dense" if split == "dense" else pick(("none", "residual", "residual", "dense"))
        norm = pick(("bn", "bn", "ln", "none"))
        act = pick(("relu", "relu", "gelu", "tanh", "leaky_relu"))
        if family == "cnn":
            ops = tuple(pick(("conv1", "conv3", "conv3", "conv5", "sep3")) for _ in range(depth))
            down = [False] * depth
            if float(torch.rand((), generator=generator)) < 0.7:
                down[int(torch.randint(depth, (1,), generator=generator))] = True
            return ArchSpec("cnn", tuple(widths), ops, norm, act, skip, tuple(down), classes=self.classes)
        pool = 4  # 7x7 = 49 inputs: within one decoded block, so the first layer is not tiled
        return ArchSpec("mlp", tuple(widths), ("linear",) * depth, norm, act, skip, (False,) * depth, pool=pool, classes=self.classes)

    def sample(self, generator: torch.Generator) -> nn.Module:
        """A freshly built random network."""
        return self.spec(generator).build()

    def specs(self, n: int, seed: int = 0) -> list[ArchSpec]:
        """``n`` specs drawn reproducibly for this split (split-specific seeds, so ``test`` differs from ``train``)."""
        generator = torch.Generator().manual_seed(_SPLIT_SEED[self.split] + seed)
        return [self.spec(generator) for _ in range(n)]
