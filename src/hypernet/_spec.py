"""Which target parameters are generated, their shapes, and flat <-> dict views.

Example:
    >>> import torch
    >>> from torch import nn
    >>> spec = ParamSpec.from_module(nn.Linear(3, 2), "all")
    >>> spec.names, spec.numel
    (('weight', 'bias'), 8)
    >>> {k: tuple(v.shape) for k, v in spec.unflatten(torch.zeros(4, 8)).items()}
    {'weight': (4, 2, 3), 'bias': (4, 2)}
"""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError

Selector = str | Sequence[str] | Callable[[str, torch.Tensor], bool]


@dataclass(frozen=True)
class TensorSpec:
    """One generated tensor: its name in the target, shape, offset in the flat vector and init statistics."""

    name: str
    shape: tuple[int, ...]
    offset: int
    fan_in: int
    fan_out: int
    init_mean: float
    init_std: float
    transposed: bool = False

    @property
    def storage_shape(self) -> tuple[int, ...]:
        """Layout of this tensor inside the flat vector (row-major).

        ``nn.Linear`` weights are stored as ``(in, out)`` and viewed transposed: ``F.linear``
        then consumes them without a copy, and batched weight gradients (vmap's
        ``x @ W.T``) come out in storage order, contiguous.
        """
        if self.transposed:
            return (self.shape[1], self.shape[0])
        return self.shape

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``storage_shape`` as a 2-d matrix (rows, rest), for low-rank factorisations."""
        rows = self.storage_shape[0]
        return rows, self.numel // rows

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_matrix(self) -> bool:
        """True for weights with a fan-in (ndim >= 2): Linear, Conv, recurrent and attention matrices."""
        return len(self.shape) >= 2


def _owner(module: nn.Module, name: str) -> nn.Module:
    path = name.rsplit(".", 1)[0] if "." in name else ""
    return module.get_submodule(path) if path else module


def _fans(module: nn.Module, name: str, tensor: torch.Tensor) -> tuple[int, int]:
    """Fan-in / fan-out as PyTorch's own default init sees them."""
    if tensor.dim() < 2:
        return tensor.numel(), tensor.numel()
    owner = _owner(module, name)
    if isinstance(owner, nn.RNNBase):
        # PyTorch initialises every recurrent weight from U(-1/sqrt(H), 1/sqrt(H)).
        return owner.hidden_size, owner.hidden_size
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(tensor)
    return int(fan_in), int(fan_out)


def _init_stats(module: nn.Module, name: str, tensor: torch.Tensor) -> tuple[float, float]:
    """Mean and std of ``tensor``'s initial distribution: PyTorch's own for the bias of a Linear / ConvNd, else the sample's.

    A Linear / ConvNd bias is drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` of its weight: mean 0, std
    ``1/sqrt(3 fan_in)``. The sample's statistics would be undefined for a one-unit output (a value or
    regression head, a one-dimensional action) and noisy for a few units.
    """
    owner = _owner(module, name)
    weight = getattr(owner, "weight", None)
    if (
        name.rpartition(".")[2] == "bias"
        and isinstance(owner, (nn.Linear, nn.modules.conv._ConvNd))
        and isinstance(weight, torch.Tensor)
        and weight.dim() >= 2
    ):
        fan_in = int(nn.init._calculate_fan_in_and_fan_out(weight)[0])
        if fan_in > 0:
            return 0.0, 1.0 / math.sqrt(3 * fan_in)
    return float(tensor.float().mean()), float(tensor.float().std()) if tensor.numel() > 1 else 0.0


def select_names(module: nn.Module, generate: Selector) -> list[str]:
    """Names of the parameters of ``module`` chosen by ``generate``.

    ``generate`` is ``"all"``, a glob or list of globs (``"0.*"``, ``"*.weight"``),
    or a predicate ``(name, tensor) -> bool``. Raises :class:`ConfigError` when a
    glob matches nothing or nothing is selected.
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"expected an nn.Module, got {type(module).__name__}; pass the torch model whose parameters to generate")
    params = dict(module.named_parameters())
    canonical = _canonical_names(module)
    if not params:
        raise ConfigError(
            f"expected a target with parameters to generate, got {type(module).__name__} with none; "
            "pass a module that has at least one nn.Parameter"
        )
    if isinstance(generate, str) and generate == "all":
        chosen = list(params)
    elif isinstance(generate, str) or (isinstance(generate, Sequence) and all(isinstance(g, str) for g in generate)):
        globs = [generate] if isinstance(generate, str) else list(generate)
        if not globs:
            raise ConfigError("expected at least one glob in generate=, got an empty list; use generate='all'")
        chosen = []
        for pattern in globs:
            # a tied parameter may be named by any of its names (GPT-2's lm_head.weight is transformer.wte.weight)
            hits = list(dict.fromkeys(canonical[n] for n in canonical if fnmatch.fnmatchcase(n, pattern)))
            if not hits:
                raise ConfigError(
                    f"expected glob {pattern!r} in generate= to match a parameter of the target, got no match; "
                    f"parameter names are: {', '.join(canonical)}"
                )
            chosen.extend(h for h in hits if h not in chosen)
        chosen = [n for n in params if n in chosen]  # keep module order
    elif callable(generate):
        chosen = [n for n, p in params.items() if generate(n, p)]
    else:
        raise ConfigError(
            f"expected generate= to be 'all', a glob, a list of globs or a callable(name, tensor) -> bool, got {type(generate).__name__}; "
            "pass e.g. generate='all' or generate=['0.*']"
        )
    if not chosen:
        raise ConfigError(f"expected generate= to select at least one target parameter, got none; parameter names are: {', '.join(params)}")
    return chosen


def _canonical_names(module: nn.Module) -> dict[str, str]:
    """Every parameter name, tied aliases included, mapped to the name ``named_parameters()`` reports."""
    first: dict[int, str] = {}
    out = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        out[name] = first.setdefault(id(p), name)
    return out


@dataclass(frozen=True)
class ParamSpec:
    """Ordered specification of the generated tensors and their place in one flat vector."""

    tensors: tuple[TensorSpec, ...]

    @classmethod
    def from_module(cls, module: nn.Module, generate: Selector = "all") -> ParamSpec:
        """Build the spec of ``module``'s parameters selected by ``generate``."""
        names = select_names(module, generate)
        params = dict(module.named_parameters())
        offset = 0
        out = []
        for name in names:
            p = params[name].detach()
            fan_in, fan_out = _fans(module, name, p)
            mean, std = _init_stats(module, name, p)
            transposed = p.dim() == 2 and name.rpartition(".")[2] == "weight" and isinstance(_owner(module, name), nn.Linear)
            out.append(TensorSpec(name, tuple(p.shape), offset, fan_in, fan_out, mean, std, transposed))
            offset += p.numel()
        return cls(tuple(out))

    # The spec is immutable: what every call reads is computed once (``unflatten`` runs on every forward).
    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {t.name: t.shape for t in self.tensors}

    @property
    def sizes(self) -> list[int]:
        return list(self._sizes)

    @functools.cached_property
    def _sizes(self) -> tuple[int, ...]:
        return tuple(t.numel for t in self.tensors)

    @functools.cached_property
    def numel(self) -> int:
        return sum(self._sizes)

    @functools.cached_property
    def _views(self) -> tuple[tuple[str, tuple[int, ...], bool], ...]:
        return tuple((t.name, t.storage_shape, t.transposed) for t in self.tensors)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a ``(..., numel)`` flat tensor as ``{name: (..., *shape)}`` (no copy).

        A longer last dimension (a generator's padded output) is allowed; the tail is ignored.
        """
        if not isinstance(flat, torch.Tensor) or flat.dim() < 1 or flat.shape[-1] < self.numel:
            got = f"shape {tuple(flat.shape)}" if isinstance(flat, torch.Tensor) else type(flat).__name__
            raise ConfigError(f"expected a (..., {self.numel}) tensor of flat weights, got {got}; pass a generator's flat output")
        lead = tuple(flat.shape[:-1])
        extra = flat.shape[-1] - self.numel
        parts = flat.split_with_sizes((*self._sizes, extra) if extra else self._sizes, dim=-1)
        out = {}
        for (name, shape, transposed), part in zip(self._views, parts, strict=False):
            view = part.view(lead + shape)
            out[name] = view.transpose(-1, -2) if transposed else view
        return out

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate ``{name: (..., *shape)}`` into one ``(..., numel)`` tensor."""
        if not isinstance(tensors, Mapping):
            raise ConfigError(f"expected a dict {{name: tensor}} for {', '.join(self.names)}, got {type(tensors).__name__}; pass one")
        missing = [n for n in self.names if n not in tensors]
        if missing:
            raise ConfigError(f"expected tensors for {', '.join(self.names)}, got none for {', '.join(missing)}; pass all of them")
        bad = [n for n in self.names if not isinstance(tensors[n], torch.Tensor)]
        if bad:
            raise ConfigError(f"expected tensors for {', '.join(bad)}, got {type(tensors[bad[0]]).__name__}; pass torch tensors")
        first = tensors[self.tensors[0].name]
        lead = first.shape[: first.dim() - len(self.tensors[0].shape)]
        parts = []
        for t in self.tensors:
            value = tensors[t.name]
            if tuple(value.shape) != (*lead, *t.shape):
                raise ConfigError(
                    f"expected {t.name} of shape {(*lead, *t.shape)}, got shape {tuple(value.shape)}; "
                    "pass every tensor with the same leading dims"
                )
            parts.append((value.transpose(-1, -2) if t.transposed else value).reshape(*lead, t.numel))
        return torch.cat(parts, dim=-1)

    def per_element(self, values: Sequence[float]) -> torch.Tensor:
        """Expand one value per tensor into a ``(numel,)`` vector."""
        ok = isinstance(values, Sequence) and not isinstance(values, str) and len(values) == len(self.tensors)
        if not ok or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ConfigError(
                f"expected {len(self.tensors)} finite numbers (one per tensor: {', '.join(self.names)}), got {values!r}; "
                "pass one number per tensor"
            )
        return torch.cat([torch.full((t.numel,), float(v)) for t, v in zip(self.tensors, values, strict=True)])
