"""Where adapters go in the frozen base, and the per-sample LoRA / bottleneck computation.

A *slot* is one ``nn.Linear`` of the base chosen by ``target_modules`` (PEFT's matching: the
module's name equals an entry or ends with ``"." + entry``) and ``layers``. A forward hook on
each slot adds, when factors are active, a per-sample update in one batched call:

* ``kind="lora"``: ``y + (alpha / r) * B_n @ A_n @ x`` (PEFT's LoRA, with ``A_n`` ``(r, in)`` and
  ``B_n`` ``(out, r)`` for sample ``n``);
* ``kind="adapter"``: ``y + U_n @ gelu(D_n @ y)`` (a bottleneck adapter on the layer's output,
  ``D_n`` ``(r, out)``, ``U_n`` ``(out, r)``).

Example:
    >>> from torch import nn
    >>> base = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> [s.name for s in AdapterSlots(base, ["0"], None, "lora", 2, 4.0).slots]
    ['0']
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError


@dataclass
class Slot:
    """One adapted linear layer: its name in the base, shapes of its two factors, and its layer index (or None)."""

    name: str
    module: nn.Linear
    layer: int | None
    a_shape: tuple[int, int]
    b_shape: tuple[int, int]


def find_layers(base: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The base's stack of transformer layers: the longest ``nn.ModuleList`` of modules of one class."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and len({type(m) for m in module}) == 1:
            if best is None or len(module) > len(best[1]):
                best = (name, module)
    return best


def _layer_of(name: str, prefix: str | None) -> int | None:
    if prefix is None:
        return None
    m = re.match(re.escape(prefix + ".") + r"(\d+)\.", name) if prefix else re.match(r"(\d+)\.", name)
    return int(m.group(1)) if m else None


class AdapterSlots:
    """The slots of a base and the hooks that apply per-sample factors to them (``active``: name -> (A, B))."""

    def __init__(self, base: nn.Module, target_modules: Sequence[str], layers: Sequence[int] | None, kind: str, rank: int, alpha: float):
        if kind not in ("lora", "adapter"):
            raise ConfigError(f"expected kind 'lora' or 'adapter', got {kind!r}")
        found = find_layers(base)
        self.layers_prefix = found[0] if found else None
        self.num_layers = len(found[1]) if found else 0
        if layers is not None:
            bad = [i for i in layers if not 0 <= int(i) < self.num_layers]
            if bad or not layers:
                raise ConfigError(f"expected layer indices in [0, {self.num_layers}) of the base's layer stack, got {list(layers)}")
        self.kind, self.rank, self.scale = kind, rank, alpha / rank
        targets = [str(t) for t in target_modules]
        linear = {n: m for n, m in base.named_modules() if isinstance(m, nn.Linear)}
        self.slots: list[Slot] = []
        for name, module in base.named_modules():
            if not any(name == t or name.endswith("." + t) for t in targets):
                continue
            layer = _layer_of(name, self.layers_prefix)
            if layers is not None and layer not in set(int(i) for i in layers):
                continue
            if not isinstance(module, nn.Linear):
                raise ConfigError(
                    f"target module {name!r} is a {type(module).__name__}; expected nn.Linear modules (e.g. 'query', 'value')"
                )
            a_dim = module.in_features if kind == "lora" else module.out_features
            self.slots.append(Slot(name, module, layer, (rank, a_dim), (module.out_features, rank)))
        if not self.slots:
            sample = sorted({n.rsplit(".", 1)[-1] for n in linear})[:12]
            raise ConfigError(
                f"target_modules {targets} (layers {None if layers is None else list(layers)}) match no nn.Linear of the base; "
                f"expected names or name suffixes such as {sample}"
            )
        self.active: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.attach()

    @property
    def first_layer(self) -> int | None:
        """The lowest layer index holding a slot (None if a slot is outside the layer stack)."""
        idx = [s.layer for s in self.slots]
        return None if any(i is None for i in idx) else min(i for i in idx if i is not None)

    def attach(self) -> None:
        """Register the forward hooks (idempotent)."""
        if not self._handles:
            self._handles = [s.module.register_forward_hook(self._hook(s.name)) for s in self.slots]

    def detach(self) -> None:
        """Remove the forward hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @contextlib.contextmanager
    def detached(self) -> Iterator[None]:
        """No hooks inside (for copying the base)."""
        self.detach()
        try:
            yield
        finally:
            self.attach()

    @contextlib.contextmanager
    def use(self, factors: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Iterator[None]:
        """Per-sample factors ``{slot name: (A (N, ...), B (N, ...))}`` active inside."""
        self.active = factors
        try:
            yield
        finally:
            self.active = None

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
            if self.active is None:
                return None
            a, b = self.active[name]
            n = a.shape[0]
            if self.kind == "lora":
                x = inputs[0]
                h = torch.einsum("nti,nri->ntr", x.reshape(n, -1, x.shape[-1]), a)
                delta = torch.einsum("ntr,nor->nto", h, b) * self.scale
            else:
                h = F.gelu(torch.einsum("nto,nro->ntr", output.reshape(n, -1, output.shape[-1]), a))
                delta = torch.einsum("ntr,nor->nto", h, b)
            return output + delta.reshape(output.shape)

        return hook
