"""A search space of MLPs (per-layer width and activation, depth) with a lossless vector encoding.

Every architecture is encoded as a vector in ``[0, 1]`` with one slot per possible layer:
``[active, width index / (n_widths - 1), one-hot activation]``; slots past the depth are
all zeros. :meth:`MLPSpace.decode` inverts :meth:`MLPSpace.encode` exactly and rejects
vectors that encode no architecture of the space.

Example:
    >>> space = MLPSpace(in_features=64, num_classes=10, depths=(1, 2), widths=(16, 32), activations=("relu", "tanh"))
    >>> arch = Architecture(widths=(32, 16), activations=("tanh", "relu"))
    >>> space.encode(arch).tolist()
    [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    >>> space.decode(space.encode(arch)) == arch, str(arch)
    (True, '32(tanh)-16(relu)')
    >>> space.build(arch)
    Sequential(
      (0): Linear(in_features=64, out_features=32, bias=True)
      (1): Tanh()
      (2): Linear(in_features=32, out_features=16, bias=True)
      (3): ReLU()
      (4): Linear(in_features=16, out_features=10, bias=True)
    )
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded
from ..._limits import check_allocation
from ..._validation import check_int
from ...errors import ConfigError, describe

__all__ = ["ACTIVATIONS", "Architecture", "MLPSpace"]

ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], type[nn.Module]]] = {
    "relu": (torch.relu, nn.ReLU),
    "tanh": (torch.tanh, nn.Tanh),
    "sigmoid": (torch.sigmoid, nn.Sigmoid),
    "gelu": (F.gelu, nn.GELU),
    "silu": (F.silu, nn.SiLU),
    "identity": (lambda t: t, nn.Identity),
}
TOL = 1e-4  # how far a decoded coordinate may sit from a valid value


@guarded()
@dataclass(frozen=True)
class Architecture:
    """One MLP of a :class:`MLPSpace`: the width and activation of every hidden layer (depth = their number)."""

    widths: tuple[int, ...]
    activations: tuple[str, ...]

    def __post_init__(self) -> None:  # accept lists; stay hashable
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "activations", tuple(self.activations))

    @property
    def depth(self) -> int:
        return len(self.widths)

    def __str__(self) -> str:
        return "-".join(f"{w}({a})" for w, a in zip(self.widths, self.activations, strict=False))


def _tuple_of(kind: type, name: str, value: Any) -> tuple[Any, ...]:
    items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if not items or any(not isinstance(v, kind) or isinstance(v, bool) for v in items) or len(set(items)) != len(items):
        raise ConfigError(
            f"expected MLPSpace({name}=...) to be a non-empty tuple of distinct {kind.__name__}s, got {value!r}; pass e.g. (1, 2, 3)"
        )
    return items


@guarded()
class MLPSpace:
    """MLPs ``in_features -> hidden layers -> num_classes`` with a per-layer width and activation.

    Args:
        in_features: input size (inputs are ``(B, in_features)``; flatten images first).
        num_classes: output size.
        depths: allowed numbers of hidden layers.
        widths: allowed widths of each hidden layer.
        activations: allowed activations of each hidden layer (names in ``ACTIVATIONS``).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        depths: Sequence[int] = (1, 2, 3),
        widths: Sequence[int] = (8, 16, 32, 64, 128),
        activations: Sequence[str] = ("relu", "tanh", "sigmoid"),
    ) -> None:
        for name, value in (("in_features", in_features), ("num_classes", num_classes)):
            check_int(value, name, low=1, owner="MLPSpace")
        self.in_features = in_features
        self.num_classes = num_classes
        self.depths = tuple(sorted(_tuple_of(int, "depths", depths)))
        self.widths = tuple(sorted(_tuple_of(int, "widths", widths)))
        self.activations = _tuple_of(str, "activations", activations)
        if self.depths[0] < 1 or self.widths[0] < 1:
            raise ConfigError(f"expected depths and widths >= 1, got depths={depths!r}, widths={widths!r}; pass positive sizes")
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown:
            raise ConfigError(f"expected activations among {sorted(ACTIVATIONS)}, got {unknown}; pass only those")

    def __repr__(self) -> str:
        return (
            f"MLPSpace(in_features={self.in_features}, num_classes={self.num_classes}, depths={self.depths}, "
            f"widths={self.widths}, activations={self.activations})"
        )

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    @property
    def max_width(self) -> int:
        return self.widths[-1]

    @property
    def slot_dim(self) -> int:
        """Coordinates per layer slot: active flag, width, one-hot activation."""
        return 2 + len(self.activations)

    @property
    def code_dim(self) -> int:
        """Length of an encoded architecture."""
        return self.max_depth * self.slot_dim

    @property
    def num_architectures(self) -> int:
        """How many distinct architectures the space holds."""
        per_layer = len(self.widths) * len(self.activations)
        return sum(per_layer**d for d in self.depths)

    # ---------------------------------------------------------------- validation
    def validate(self, arch: Any) -> Architecture:
        """Return ``arch`` as an :class:`Architecture` of this space, or raise :class:`~hypernet.ConfigError` saying why not."""
        if not isinstance(arch, Architecture):
            raise ConfigError(
                f"expected an hn.Architecture(widths=..., activations=...), got {describe(arch)}; pass e.g. space.sample(1)[0]"
            )
        if len(arch.widths) != len(arch.activations):
            raise ConfigError(
                f"expected one activation per hidden layer, got {len(arch.widths)} widths and {len(arch.activations)} activations "
                f"in {arch}; "
                "pass as many of each"
            )
        if arch.depth not in self.depths:
            raise ConfigError(f"expected a depth in {self.depths}, got {arch.depth} ({arch}); pick one of the space's depths")
        bad_w = [w for w in arch.widths if w not in self.widths]
        if bad_w:
            raise ConfigError(f"expected widths in {self.widths}, got {bad_w} in {arch}; pick widths of the space")
        bad_a = [a for a in arch.activations if a not in self.activations]
        if bad_a:
            raise ConfigError(f"expected activations in {self.activations}, got {bad_a} in {arch}; pick activations of the space")
        return arch

    # ------------------------------------------------------------------ encoding
    def encode(self, arch: Architecture) -> torch.Tensor:
        """The ``(code_dim,)`` float32 vector of ``arch`` (values in ``[0, 1]``)."""
        arch = self.validate(arch)
        code = torch.zeros(self.max_depth, self.slot_dim)
        steps = max(1, len(self.widths) - 1)
        for layer, (w, a) in enumerate(zip(arch.widths, arch.activations, strict=True)):
            code[layer, 0] = 1.0
            code[layer, 1] = self.widths.index(w) / steps
            code[layer, 2 + self.activations.index(a)] = 1.0
        return code.flatten()

    def decode(self, code: torch.Tensor) -> Architecture:
        """The architecture encoded by ``code``; raises :class:`~hypernet.ConfigError` for a vector that encodes none."""
        if not isinstance(code, torch.Tensor) or code.shape != (self.code_dim,) or not code.dtype.is_floating_point:
            raise ConfigError(f"expected a float tensor of shape ({self.code_dim},), got {describe(code)}; pass space.encode(arch)")
        slots = code.detach().double().cpu().view(self.max_depth, self.slot_dim)
        widths, activations = [], []
        steps = max(1, len(self.widths) - 1)
        for layer, slot in enumerate(slots):
            active = float(slot[0])
            if abs(active) <= TOL and bool((slot.abs() <= TOL).all()):
                if any(float(s[0]) > TOL for s in slots[layer:]):
                    raise ConfigError(
                        f"expected active layers to come first, got an inactive slot {layer} before an active one in {code.tolist()}; "
                        "pass space.encode(arch)"
                    )
                break
            position = float(slot[1]) * steps
            onehot = slot[2:]
            hot = [i for i, v in enumerate(onehot.tolist()) if abs(v - 1) <= TOL]
            cold = all(abs(v) <= TOL for i, v in enumerate(onehot.tolist()) if i not in hot)
            if abs(active - 1) > TOL or abs(position - round(position)) > TOL * steps or not 0 <= round(position) < len(self.widths):
                raise ConfigError(
                    f"expected slot {layer} to hold [1, k/{steps}, one-hot] or all zeros, got {slot.tolist()}; pass space.encode(arch)"
                )
            if len(hot) != 1 or not cold:
                raise ConfigError(f"expected a one-hot activation in slot {layer}, got {onehot.tolist()}; pass space.encode(arch)")
            widths.append(self.widths[round(position)])
            activations.append(self.activations[hot[0]])
        return self.validate(Architecture(tuple(widths), tuple(activations)))

    # ------------------------------------------------------------------ sampling
    def sample(
        self, n: int = 1, generator: torch.Generator | None = None, distinct: bool = False, depth_weights: Sequence[float] | None = None
    ) -> list[Architecture]:
        """``n`` random architectures: a depth (uniform, or in proportion to ``depth_weights``), then a uniform
        width and activation per layer.

        ``distinct=True`` draws without repeats (``n`` at most :attr:`num_architectures`).
        Uses ``torch``'s global generator unless ``generator`` is given.
        """
        check_int(n, "n", low=0)
        check_allocation(n * 200, f"sample(n={n})", "draw fewer architectures at a time", element_size=1)
        if distinct and n > self.num_architectures:
            raise ConfigError(
                f"expected at most {self.num_architectures} distinct architectures from this space, got n={n}; "
                "draw fewer or pass distinct=False"
            )
        depth_p = self.depth_distribution(depth_weights)

        def pick(options: Sequence[Any]) -> Any:
            return options[int(torch.randint(len(options), (), generator=generator))]

        out: list[Architecture] = []
        seen: set[Architecture] = set()
        while len(out) < n:
            depth = self.depths[int(torch.multinomial(depth_p, 1, generator=generator))] if depth_p is not None else pick(self.depths)
            arch = Architecture(tuple(pick(self.widths) for _ in range(depth)), tuple(pick(self.activations) for _ in range(depth)))
            if distinct and arch in seen:
                continue
            seen.add(arch)
            out.append(arch)
        return out

    def depth_distribution(self, depth_weights: Sequence[float] | None) -> torch.Tensor | None:
        """Validated probabilities of the depths (``None``: uniform)."""
        if depth_weights is None:
            return None
        weights = list(depth_weights) if isinstance(depth_weights, Sequence) else None
        ok = weights is not None and len(weights) == len(self.depths)
        ok = ok and all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in weights or [])
        if not ok or not sum(weights or []) > 0:
            raise ConfigError(
                f"expected depth_weights as {len(self.depths)} non-negative numbers (one per depth {self.depths}), "
                f"got {depth_weights!r}; pass one weight per depth, or None"
            )
        t = torch.tensor(weights, dtype=torch.float64)
        return t / t.sum()

    # ------------------------------------------------------------------- modules
    def build(self, arch: Architecture) -> nn.Sequential:
        """A plain, freshly initialised ``nn.Sequential`` of ``arch`` (Linear, activation, ..., Linear)."""
        arch = self.validate(arch)
        layers: list[nn.Module] = []
        previous = self.in_features
        for w, a in zip(arch.widths, arch.activations, strict=True):
            layers += [nn.Linear(previous, w), ACTIVATIONS[a][1]()]
            previous = w
        layers.append(nn.Linear(previous, self.num_classes))
        return nn.Sequential(*layers)

    def num_parameters(self, arch: Architecture) -> int:
        """Parameters of ``arch``'s plain module."""
        sizes = [self.in_features, *self.validate(arch).widths, self.num_classes]
        return sum(a * b + b for a, b in itertools.pairwise(sizes))

    def flops(self, arch: Architecture) -> int:
        """Multiply-adds of one forward pass of one sample."""
        sizes = [self.in_features, *self.validate(arch).widths, self.num_classes]
        return sum(a * b for a, b in itertools.pairwise(sizes))

    def log_size(self) -> float:
        """log10 of :attr:`num_architectures` (for reports)."""
        return math.log10(self.num_architectures)
