"""A DeepNets-1M-like sampler of small CNNs, MLPs and MLP-Mixers for 28x28 grey images (Fashion-MNIST, MNIST).

An :class:`ArchSpec` describes one network: family (``cnn``, ``mlp`` or ``mixer``), width and operation of
each block, normalisation (BatchNorm / LayerNorm / none), activation, skip connections
(``residual``: ``h + f(h)`` where widths match; ``dense``: ``cat(h, f(h))``), where and how to
downsample, and the head. The ``cnn`` family covers the motifs of the networks people write (GHN-3's
lesson: a wider training distribution): plain convolutions, VGG-style stacks of 3x3 convolutions with
max-pooling, LeNet-style conv-pool stages (padded or, as LeNet's, unpadded ``valid`` convolutions, so flatten
heads see 7x7, 5x5, 4x4 or smaller maps) feeding wide fully connected layers, ResNet basic and
bottleneck blocks, depthwise-separable blocks; stride-2 or stride-1 stems; downsampling by max- or
average-pooling or by strided convolutions; global-average or flatten heads with 0-2 hidden layers.
The ``mixer`` family has token- and channel-mixing MLPs over 4x4 or 7x7 patches. The five hand-written
nets of :mod:`._handwritten` are never generated verbatim (specs with their parameter shapes are redrawn).
:class:`ArchitectureSampler` draws specs for five splits, like DeepNets-1M:

* ``train`` / ``test``: the same distribution (1-4 blocks, widths 8-32, no / residual / dense skips);
  ``test`` uses other seeds;
* ``wide``: widths 48-96 (never seen in training);
* ``deep``: 6-10 blocks;
* ``dense``: 4-6 blocks, all joined by DenseNet-style concatenation (wider concatenations than in training).

Stride-1 stems downsample at their first block to stay cheap on a CPU; MLPs average-pool the image
to 7x7 before their first linear layer (49 inputs fit one decoded block).

Example:
    >>> import torch
    >>> sampler = ArchitectureSampler("train")
    >>> net = sampler.sample(torch.Generator().manual_seed(0))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> [s.family for s in sampler.specs(3, seed=1)]
    ['cnn', 'mixer', 'cnn']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..._validation import check_int
from ...errors import ConfigError, describe

SPLITS = ("train", "test", "wide", "deep", "dense")
FAMILIES = ("cnn", "mlp", "mixer")
_SPLIT_SEED = {"train": 0, "test": 1_000_003, "wide": 2_000_003, "deep": 3_000_017, "dense": 4_000_037}


@dataclass(frozen=True)
class ArchSpec:
    """One sampled architecture (build it with :meth:`build`)."""

    family: str  # "cnn" | "mlp" | "mixer"
    widths: tuple[int, ...]  # stem/first width, then one per block
    ops: tuple[str, ...]  # per block: cnn: see CNN_OPS and VALID_OPS; mlp: "linear"; mixer: "mixer"
    norm: str  # "bn" | "ln" | "none"
    act: str  # "relu" | "gelu" | "tanh" | "leaky_relu"
    skip: str  # "none" | "residual" | "dense" (between blocks; basic / bottleneck blocks have their own)
    downsample: tuple[bool, ...]  # per block, cnn: halve the resolution at this block
    pool: int = 4  # mlp: input average-pool size (4: 7x7 inputs); mixer: patch size
    classes: int = 10
    stem: str = "stride"  # cnn: "stride" (3x3, stride 2) | "plain" (stride 1, ``stem_kernel``)
    stem_kernel: int = 3
    down: str = "pool"  # cnn: "pool" (max-pool after the block) | "avg" (average-pool) | "stride" (the block's first conv)
    head: str = "global"  # "global" (average over positions) | "flatten" (all positions into the first linear layer)
    head_hidden: tuple[int, ...] = ()  # hidden widths of the fully connected head
    expansion: int = 2  # mixer MLPs and bottleneck blocks

    def build(self) -> nn.Module:
        """A fresh ``nn.Module`` of this architecture (PyTorch default initialisation)."""
        return MixerNet(self) if self.family == "mixer" else SampledNet(self)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CNN_OPS = ("conv1", "conv3", "conv5", "sep3", "dwsep", "basic", "bottleneck")
"""Block types of the ``cnn`` family: plain convolutions, depthwise-separable (``sep3``: dw + pw;
``dwsep``: MobileNet's dw-norm-act-pw-norm-act), residual ``basic`` and ``bottleneck`` blocks."""
VALID_OPS = ("conv3v", "conv5v")
"""Convolutions without padding (LeNet's ``valid`` convolutions): each shrinks the map by ``k - 1``."""


def _shrink(op: str) -> int:
    """How many rows and columns a block of type ``op`` removes (``k - 1`` for a valid convolution, else 0)."""
    return int(op[4]) - 1 if op in VALID_OPS else 0


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}[name]()


def _norm(name: str, width: int, conv: bool) -> nn.Module:
    if name == "bn":
        return nn.BatchNorm2d(width) if conv else nn.BatchNorm1d(width)
    if name == "ln":
        return nn.GroupNorm(1, width) if conv else nn.LayerNorm(width)
    return nn.Identity()


class _Residual(nn.Module):
    """``act(body(x) + shortcut(x))``: ResNet's basic and bottleneck blocks."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.body, self.shortcut, self.act = body, shortcut, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _block(spec: ArchSpec, op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    if spec.family != "cnn":
        return nn.Sequential(nn.Linear(c_in, c_out), _norm(spec.norm, c_out, False), _act(spec.act))
    norm, act = spec.norm, spec.act
    bias = norm != "bn"
    if op in ("basic", "bottleneck"):
        if op == "basic":
            body = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=bias), _norm(norm, c_out, True), _act(act),
                    nn.Conv2d(c_out, c_out, 3, 1, 1, bias=bias), _norm(norm, c_out, True)]  # fmt: skip
        else:
            mid = max(4, c_out // spec.expansion)
            body = [nn.Conv2d(c_in, mid, 1, bias=bias), _norm(norm, mid, True), _act(act),
                    nn.Conv2d(mid, mid, 3, stride, 1, bias=bias), _norm(norm, mid, True), _act(act),
                    nn.Conv2d(mid, c_out, 1, bias=bias), _norm(norm, c_out, True)]  # fmt: skip
        same = c_in == c_out and stride == 1
        shortcut = nn.Identity() if same else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=bias), _norm(norm, c_out, True))
        return _Residual(nn.Sequential(*body), shortcut, _act(act))
    if op == "sep3":
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.Conv2d(c_in, c_out, 1)]
    elif op == "dwsep":
        layers = [nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), _norm(norm, c_in, True), _act(act),
                  nn.Conv2d(c_in, c_out, 1, bias=bias)]  # fmt: skip
    else:
        k = int(op[4])
        layers = [nn.Conv2d(c_in, c_out, k, stride, 0 if op in VALID_OPS else k // 2)]
    return nn.Sequential(*layers, _norm(norm, c_out, True), _act(act))


def _head(spec: ArchSpec, features: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for h in spec.head_hidden:
        layers += [nn.Linear(features, h), _act(spec.act)]
        features = h
    return [*layers, nn.Linear(features, spec.classes)]


class SampledNet(nn.Module):
    """The network a ``cnn`` or ``mlp`` :class:`ArchSpec` describes."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        conv = spec.family == "cnn"
        if conv:
            k, stride = (3, 2) if spec.stem == "stride" else (spec.stem_kernel, 1)
            self.stem = nn.Sequential(
                nn.Conv2d(1, spec.widths[0], k, stride=stride, padding=k // 2), _norm(spec.norm, spec.widths[0], True), _act(spec.act)
            )
            size = 14 if spec.stem == "stride" else 28
        else:
            self.stem = nn.Sequential(
                nn.AvgPool2d(spec.pool), nn.Flatten(), nn.Linear((28 // spec.pool) ** 2, spec.widths[0]), _act(spec.act)
            )
            size = 1
        blocks: list[nn.Module] = []
        pools: list[nn.Module] = []
        skips: list[str] = []
        width = spec.widths[0]
        for i, op in enumerate(spec.ops):
            out = spec.widths[i + 1]
            down = conv and spec.downsample[i]
            strided = down and spec.down == "stride"
            blocks.append(_block(spec, op, width, out, 2 if strided else 1))
            skip = "none" if op in ("basic", "bottleneck", *VALID_OPS) or strided else spec.skip
            if skip == "residual" and out != width:
                skip = "none"
            skips.append(skip)
            width = width + out if skip == "dense" else out
            if down and not strided:
                pools.append(nn.MaxPool2d(2) if spec.down == "pool" else nn.AvgPool2d(2))
            else:
                pools.append(nn.Identity())
            size -= _shrink(op) if conv else 0
            if down:
                size = (size + 1) // 2 if strided else size // 2
        self.blocks = nn.ModuleList(blocks)
        self.pools = nn.ModuleList(pools)
        self.skips = tuple(skips)
        if not conv:
            self.head = nn.Sequential(*_head(spec, width))
        elif spec.head == "flatten":
            self.head = nn.Sequential(nn.Flatten(), *_head(spec, width * size * size))
        else:
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), *_head(spec, width))

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


class _MixerBlock(nn.Module):
    def __init__(self, spec: ArchSpec, tokens: int, dim: int) -> None:
        super().__init__()
        e = spec.expansion
        self.norm1, self.norm2 = _norm(spec.norm, dim, False), _norm(spec.norm, dim, False)
        self.token_mlp = nn.Sequential(nn.Linear(tokens, e * tokens), _act(spec.act), nn.Linear(e * tokens, tokens))
        self.channel_mlp = nn.Sequential(nn.Linear(dim, e * dim), _act(spec.act), nn.Linear(e * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class MixerNet(nn.Module):
    """An MLP-Mixer: patch embedding, token-mixing and channel-mixing MLPs, mean-over-tokens or flatten head."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        dim, p = spec.widths[0], spec.pool
        tokens = (28 // p) ** 2
        self.patches = nn.Conv2d(1, dim, p, stride=p)
        self.blocks = nn.Sequential(*[_MixerBlock(spec, tokens, dim) for _ in spec.ops])
        self.norm = _norm(spec.norm, dim, False)
        self.head = nn.Sequential(*_head(spec, dim * tokens if spec.head == "flatten" else dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.blocks(self.patches(x).flatten(2).transpose(1, 2)))
        return self.head(h.flatten(1) if self.spec.head == "flatten" else h.mean(1))


class ArchitectureSampler:
    """Random :class:`ArchSpec` s of one split (``train``, ``test``, ``wide``, ``deep``, ``dense``).

    Args:
        split: which distribution; ``test`` is ``train``'s distribution drawn from other seeds.
        families: which families to draw (``cnn``, ``mlp``, ``mixer``).
        classes: output classes.
    """

    def __init__(self, split: str = "train", families: tuple[str, ...] = FAMILIES, classes: int = 10) -> None:
        if split not in SPLITS:
            raise ConfigError(f"expected a split in {SPLITS}, got {split!r}; pass a split in {SPLITS}")
        if not isinstance(families, (tuple, list)) or not families or any(f not in FAMILIES for f in families):
            raise ConfigError(f"expected families from {FAMILIES}, got {families!r}; pass a tuple of those names")
        check_int(classes, "classes", low=2, high=1 << 20, owner="ArchitectureSampler")
        self.split, self.families, self.classes = split, tuple(families), classes

    def spec(self, generator: torch.Generator) -> ArchSpec:
        """One random spec (never one with the parameter shapes of a hand-written net of :mod:`._handwritten`)."""
        from ._handwritten import held_out_signatures, shape_signature

        _check_generator(generator)
        while True:
            spec = self._draw(generator)
            if shape_signature(spec.build()) not in held_out_signatures():
                return spec

    def _draw(self, generator: torch.Generator) -> ArchSpec:
        def pick(options: tuple[Any, ...]) -> Any:
            return options[int(torch.randint(len(options), (1,), generator=generator))]

        def coin(p: float) -> bool:
            return float(torch.rand((), generator=generator)) < p

        kinds = ("cnn", "cnn", "mlp") if self.split == "dense" else ("cnn", "cnn", "mlp", "mixer")  # dense: concatenations
        family = pick(tuple(f for f in kinds if f in self.families) or tuple(self.families))
        split = self.split
        depth = pick((6, 7, 8, 9, 10) if split == "deep" else (4, 5, 6) if split == "dense" else (1, 2, 3, 4))
        width_options = (48, 64, 96) if split == "wide" else (8, 16, 24, 32)
        if split == "dense":
            width_options = (8, 12, 16)
        first = pick(width_options)
        widths = [first]
        for _ in range(depth):  # often keep the width (so residual skips apply), else redraw
            widths.append(widths[-1] if coin(0.5) else pick(width_options))
        skip = "dense" if split == "dense" else pick(("none", "residual", "residual", "dense"))
        norm = pick(("bn", "bn", "ln", "none"))
        act = pick(("relu", "relu", "gelu", "tanh", "leaky_relu"))
        hidden = pick(((), (), (32,), (64,), (128,), (128, 64), (96, 48)))
        head = pick(("global", "flatten"))
        if family == "mixer":
            dim = pick(width_options)
            return ArchSpec("mixer", (dim,) * (depth + 1), ("mixer",) * depth, pick(("ln", "ln", "none")), act, "residual",
                            (False,) * depth, pool=pick((4, 7)), classes=self.classes, head=head, head_hidden=hidden,
                            expansion=pick((1, 2, 4)))  # fmt: skip
        if family == "mlp":
            return ArchSpec("mlp", tuple(widths), ("linear",) * depth, norm, act, skip, (False,) * depth, pool=4, classes=self.classes)
        style = pick(("random", "random", "random", "vgg", "lenet"))
        stem, stem_kernel = ("plain", pick((3, 5))) if coin(0.4) or style != "random" else ("stride", 3)
        down_kind = pick(("pool", "pool", "avg", "stride"))
        down = [False] * depth
        if style == "vgg":  # stacks of 3x3 convolutions with max-pooling after every second one
            ops = ("conv3",) * depth
            down = [i % 2 == 1 or (stem == "plain" and i == 0) for i in range(depth)]
            down_kind, head = "pool", "flatten" if coin(0.7) else head
        elif style == "lenet":  # conv-pool stages feeding wide fully connected layers
            ops = tuple(pick(("conv3", "conv5", "conv3v", "conv5v")) for _ in range(depth))
            down = [i < 2 for i in range(depth)]
            down_kind, head, skip = "pool", "flatten", skip if split == "dense" else "none"
            hidden = pick(((64, 32), (128, 64), (96, 48), (128,)))
        else:
            ops = tuple(pick(CNN_OPS) for _ in range(depth))
            for _ in range(pick((0, 1, 1, 2))):
                down[int(torch.randint(depth, (1,), generator=generator))] = True
            if stem == "plain":
                down[0] = True  # full-resolution maps are costly: downsample at the first block
        spatial = 14 if stem == "stride" else 28
        block_ops = list(ops)
        for i, d in enumerate(down):  # keep maps of at least 3x3
            if spatial - _shrink(block_ops[i]) < 3:
                block_ops[i] = block_ops[i].removesuffix("v")  # too small for a valid convolution: pad it
            spatial -= _shrink(block_ops[i])
            down[i] = d and spatial >= 6
            spatial = spatial // 2 if down[i] else spatial
        if head == "flatten" and widths[-1] * max(spatial, 1) ** 2 > 4096:
            head = "global"
        return ArchSpec("cnn", tuple(widths), tuple(block_ops), norm, act, skip, tuple(down), classes=self.classes, stem=stem,
                        stem_kernel=stem_kernel, down=down_kind, head=head, head_hidden=hidden)  # fmt: skip

    def sample(self, generator: torch.Generator) -> nn.Module:
        """A freshly built random network."""
        _check_generator(generator)
        return self.spec(generator).build()

    def specs(self, n: int, seed: int = 0) -> list[ArchSpec]:
        """``n`` specs drawn reproducibly for this split (split-specific seeds, so ``test`` differs from ``train``)."""
        check_int(n, "n", low=0, owner="ArchitectureSampler.specs")
        check_int(seed, "seed", low=0, high=1 << 62, owner="ArchitectureSampler.specs")
        generator = torch.Generator().manual_seed(_SPLIT_SEED[self.split] + seed)
        return [self.spec(generator) for _ in range(n)]


def _check_generator(generator: Any) -> None:
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"expected a torch.Generator, got {describe(generator)}; pass torch.Generator().manual_seed(0)")
