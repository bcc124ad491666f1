"""The :class:`Generator` interface: embeddings ``(U, dim)`` -> flat weights ``(U, n_generated)``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from .._limits import check_allocation
from .._nn import mlp
from .._spec import ParamSpec
from .._validation import check_int
from ..errors import ConfigError, describe


def check_sizes(owner: str, name: str, value: Any, allow_empty: bool = False) -> tuple[int, ...]:
    """Validate a tuple of positive layer widths."""
    sizes = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    ok = isinstance(sizes, Sequence) and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
    if not ok or (not allow_empty and len(sizes) == 0):
        raise ConfigError(f"expected {owner}({name}=...) to be a tuple of positive ints, got {value!r}; pass e.g. {name}=(64,)")
    return tuple(sizes)


def check_positive_int(owner: str, name: str, value: Any) -> int:
    return check_int(value, name, low=1, owner=owner)


class Generator(nn.Module):
    """Produces the generated target weights from condition embeddings.

    A generator is created unbound (only its hyperparameters) and bound to a
    target by :class:`~hypernet.HyperModel`, which calls :meth:`bind` with the
    target's :class:`ParamSpec` and the embedding size. After binding,
    ``generator(emb)`` maps ``(U, cond_dim)`` embeddings to ``(U, spec.numel)``
    flat weights with unit variance at initialisation (the model then scales
    them per tensor, see :mod:`hypernet.init`).
    """

    name: ClassVar[str] = ""
    default_parametrization: ClassVar[str] = "direct"
    #: a generator whose output depends on the model's flat ``base`` and ``scale`` sets this; the model
    #: then calls ``generator(emb, base=model.base, scale=model.scale)``.
    needs_base: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self._spec: ParamSpec | None = None
        self.cond_dim = 0

    @property
    def spec(self) -> ParamSpec:
        if self._spec is None:
            raise ConfigError(
                f"expected generator {self.name!r} bound to a target, got it unbound; pass it to hn.HyperModel(target, generator=...)"
            )
        return self._spec

    @property
    def is_bound(self) -> bool:
        return self._spec is not None

    def bind(self, spec: ParamSpec, cond_dim: int) -> Generator:
        """Create the parameters for ``spec`` and embeddings of size ``cond_dim``."""
        if self._spec is not None:
            raise ConfigError(
                f"expected an unbound generator, got generator {self.name!r} already bound to a target; create a new one for another model"
            )
        if not isinstance(spec, ParamSpec):
            raise ConfigError(f"expected spec to be a hn.ParamSpec, got {describe(spec)}; pass hn.ParamSpec.from_module(target)")
        cond_dim = check_int(cond_dim, "cond_dim", low=1, owner=f"{type(self).__name__}.bind")
        self._check_size(spec, cond_dim)
        self._spec = spec
        self.cond_dim = cond_dim
        self.build()
        return self

    def _check_size(self, spec: ParamSpec, cond_dim: int) -> None:
        """Build a copy on the meta device first, so sizes too large for memory give a ConfigError, not an allocator error."""
        probe = copy.deepcopy(self)
        probe._spec, probe.cond_dim = spec, cond_dim
        try:
            with torch.device("meta"):
                probe.build()
        except Exception:  # a generator whose build needs real tensors: nothing to check before the real build
            return
        numel = sum(t.numel() for t in itertools.chain(probe.parameters(), probe.buffers()))
        check_allocation(
            numel, f"generator {self.name!r}", f"its sizes give {numel:,} parameters; use smaller sizes (hidden, chunk_dim, ...)"
        )

    def build(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, emb: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def calibrate_(self) -> None:
        """Make outputs unit-variance for unit-variance embeddings (used by hyperfan / mip)."""
        for layer, inputs in self.output_layers(torch.randn(256, self.cond_dim)):
            second_moment = float(inputs.pow(2).mean()) or 1.0
            nn.init.normal_(layer.weight, std=(layer.in_features * second_moment) ** -0.5)
            nn.init.zeros_(layer.bias)

    def output_layers(self, probe: torch.Tensor) -> list[tuple[nn.Linear, torch.Tensor]]:  # pragma: no cover
        """The final Linear layers and the inputs they see for ``probe`` embeddings."""
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        """Width of ``forward``'s output: ``spec.numel``, or more when the generator pads (the tail is unused)."""
        return self.spec.numel

    def output_signs(self) -> torch.Tensor | None:
        """Optional fixed ``(numel,)`` tensor of +-1 that the model folds into its per-element scale."""
        return None

    @torch.no_grad()
    def zero_output_(self) -> None:
        """Make the output exactly zero for every embedding (gradients still flow)."""
        for layer, _ in self.output_layers(torch.zeros(1, self.cond_dim)):
            layer.weight.zero_()
            layer.bias.zero_()

    @property
    def num_parameters(self) -> int:
        """Number of trainable parameters of this generator."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def trunk_mlp(sizes: Sequence[int]) -> nn.Sequential:
    """ReLU MLP ending in an activation (kaiming init keeps the second moment about constant)."""
    return mlp(sizes, final_activation=True)


class EmbeddedTrunk(nn.Module):
    """MLP over ``[e, k_j]`` for every embedding e (U of them) and every learned key k_j (J of them).

    The first layer is split so the ``(U, J, in)`` concatenation is never built:
    ``W [e; k] = W_e e + W_k k``. Output: ``(U, J, hidden[-1])``.
    """

    def __init__(self, cond_dim: int, num_keys: int, key_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.keys = nn.Parameter(torch.randn(num_keys, key_dim))
        self.first = nn.Linear(cond_dim + key_dim, hidden[0])
        nn.init.kaiming_normal_(self.first.weight, nonlinearity="relu")
        nn.init.zeros_(self.first.bias)
        self.cond_dim = cond_dim
        self.rest = trunk_mlp(hidden)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        w_e, w_k = self.first.weight.split([self.cond_dim, self.keys.shape[1]], dim=1)
        from_emb = emb @ w_e.T  # (U, h)
        from_keys = torch.addmm(self.first.bias, self.keys, w_k.T)  # (J, h)
        h = torch.relu(from_emb.unsqueeze(1) + from_keys.unsqueeze(0))
        return self.rest(h)
