"""The adapted base that the core's :class:`~hypernet.HyperModel` runs: where adapters go, and the module it calls.

A *slot* is one ``nn.Linear`` of the base chosen by ``target_modules`` (PEFT's matching: the
module's name equals an entry or ends with ``"." + entry``) and ``layers``. :func:`adapt`
gives every slot its adapter parameters, which the hypernetwork then generates per sample
(``HyperModel(..., generate=<the adapter parameters>)``):

* ``kind="lora"``: PEFT's own LoRA (``get_peft_model`` with ``LoraConfig(r, lora_alpha,
  lora_dropout=0)``): ``y + (alpha / r) * B @ A @ x`` with ``lora_A`` ``(r, in)`` and ``lora_B``
  ``(out, r)``; the adapted base *is* a ``peft.PeftModel``, so one generated set exports as a PEFT adapter.
* ``kind="adapter"``: a bottleneck adapter on the layer's output, ``y + U @ gelu(D @ y)``
  (``adapter_down`` ``(r, out)``, ``adapter_up`` ``(out, r)``).

The target's own adapter weights start with ``B`` / ``adapter_up`` at zero, so calling the adapted
base directly (not through the HyperModel) gives exactly the frozen base.

Example:
    >>> from torch import nn
    >>> base = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> [s.name for s in find_slots(base, ["0"], None, "lora", 2)]
    ['0']
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError


@dataclass(frozen=True)
class Slot:
    """One adapted linear layer: its name in the base, the shapes of its two factors, and its layer index (or None)."""

    name: str
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


def find_slots(base: nn.Module, target_modules: Sequence[str], layers: Sequence[int] | None, kind: str, rank: int) -> list[Slot]:
    """The slots of ``base`` (validated: every match is an ``nn.Linear``, ``layers`` exist, something matches)."""
    found = find_layers(base)
    prefix, num_layers = (found[0], len(found[1])) if found else (None, 0)
    if layers is not None:
        bad = [i for i in layers if not 0 <= int(i) < num_layers]
        if bad or not layers:
            raise ConfigError(
                f"expected layer indices in [0, {num_layers}) of the base's layer stack, got {list(layers)}; pass indices in that range"
            )
    targets = [str(t) for t in target_modules]
    slots: list[Slot] = []
    for name, module in base.named_modules():
        if not any(name == t or name.endswith("." + t) for t in targets):
            continue
        layer = _layer_of(name, prefix)
        if layers is not None and layer not in {int(i) for i in layers}:
            continue
        if not isinstance(module, nn.Linear):
            raise ConfigError(
                f"expected nn.Linear target modules, got {name!r}, a {type(module).__name__}; pass names such as 'query', 'value'"
            )
        a_dim = module.in_features if kind == "lora" else module.out_features
        slots.append(Slot(name, layer, (rank, a_dim), (module.out_features, rank)))
    if not slots:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in base.named_modules() if isinstance(m, nn.Linear)})[:12]
        raise ConfigError(
            f"expected target_modules naming nn.Linear modules of the base, got {targets} (layers "
            f"{None if layers is None else list(layers)}) matching none; pass names or name suffixes such as {linear}"
        )
    return slots


class Bottleneck(nn.Module):
    """``base_layer`` followed by a residual bottleneck adapter on its output (``adapter_up`` starts at zero)."""

    def __init__(self, base_layer: nn.Linear, rank: int):
        super().__init__()
        self.base_layer = base_layer
        self.adapter_down = nn.Linear(base_layer.out_features, rank, bias=False)
        self.adapter_up = nn.Linear(rank, base_layer.out_features, bias=False)
        nn.init.zeros_(self.adapter_up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        return y + self.adapter_up(F.gelu(self.adapter_down(y)))


def adapt(base: nn.Module, slots: Sequence[Slot], kind: str, rank: int, alpha: float) -> tuple[nn.Module, nn.Module]:
    """``(wrapper, inner)``: ``base`` (modified in place) with adapter parameters at every slot.

    For ``kind="lora"`` the wrapper is a ``peft.PeftModel`` and ``inner`` its base model; for
    ``"adapter"`` both are ``base``. The adapter parameters are frozen (the hypernetwork generates them).
    """
    if kind == "lora":
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:  # pragma: no cover - the hf extra is part of dev
            raise ConfigError("expected peft for kind='lora', got an ImportError; install it: pip install 'hypernet[hf]'") from None
        pattern = "^(" + "|".join(re.escape(s.name) for s in slots) + ")$"
        config = LoraConfig(r=rank, lora_alpha=cast(Any, alpha), target_modules=pattern, lora_dropout=0.0, bias="none")
        with warnings.catch_warnings():  # peft 0.21 reads an attribute transformers 5 deprecates
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            peft_model = get_peft_model(base, config)
        wrapper: nn.Module = peft_model
        inner = cast(nn.Module, peft_model.get_base_model())
    else:
        for s in slots:
            base.set_submodule(s.name, Bottleneck(cast(nn.Linear, base.get_submodule(s.name)), rank))
        wrapper = inner = base
    wrapper.requires_grad_(False)
    return wrapper.eval(), inner


def adapter_names(runner: nn.Module, slots: Sequence[Slot], kind: str) -> list[str]:
    """The ``(A, B)`` parameter names of every slot inside ``runner`` (the HyperModel's target), in slot order."""
    suffixes = ("lora_A.default.weight", "lora_B.default.weight") if kind == "lora" else ("adapter_down.weight", "adapter_up.weight")
    names = [n for n, _ in runner.named_parameters()]
    out = []
    for s in slots:
        for suffix in suffixes:
            hits = [n for n in names if n.endswith(f"{s.name}.{suffix}")]
            if len(hits) != 1:
                raise ConfigError(
                    f"expected one adapter parameter '{s.name}.{suffix}' in the adapted base, got {hits}; check target_modules"
                )
            out.append(hits[0])
    return out


class Runner(nn.Module):
    """The HyperModel's target: the adapted base, called as ``runner(input_ids, attention_mask, lower=None)``.

    Returns the last hidden states ``(N, T, H)``. With ``lower`` (the cached hidden states entering the
    first adapted layer, ``(N, T, H)``) only the layers from there up run (see ``_frozen.py``); ``lower``
    is an argument so that, under the core's per-sample ``vmap``, it travels with its samples.
    """

    frozen: Any  # the FrozenBase helper (not a submodule)

    def __init__(self, model: nn.Module, frozen: Any):
        super().__init__()
        self.model = model
        object.__setattr__(self, "frozen", frozen)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, lower: torch.Tensor | None = None) -> torch.Tensor:
        if lower is None:
            return cast(torch.Tensor, self.frozen.run(input_ids, attention_mask))
        with self.frozen.upper_only(lower):
            return cast(torch.Tensor, self.frozen.run(input_ids, attention_mask))
