"""Export one generated adapter as a standalone PEFT LoRA (PEFT's own ``save_pretrained`` format).

The factors of one condition are copied into a PEFT LoRA (``LoraConfig`` targeting exactly the
adapted modules, ``lora_dropout=0``) on a copy of the frozen base; ``PeftModel.from_pretrained(
fresh_base, path)`` then reproduces the recipe's hidden states. Needs the ``hf`` extra (peft).
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from ...errors import ConfigError
from ._slots import AdapterSlots


def peft_lora(base: nn.Module, slots: AdapterSlots, factors: Sequence[tuple[torch.Tensor, torch.Tensor]], alpha: float) -> Any:
    """A ``peft.PeftModel`` (on a copy of ``base``) holding the LoRA factors ``[(A (r, in), B (out, r)), ...]`` of each slot."""
    if slots.kind != "lora":
        raise ConfigError("PEFT has no bottleneck adapters: expected kind='lora' to export a PEFT adapter, got kind='adapter'")
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:  # pragma: no cover - the hf extra is part of dev
        raise ConfigError("exporting a PEFT adapter needs peft: pip install 'hypernet[hf]'") from None
    pattern = "^(" + "|".join(re.escape(s.name) for s in slots.slots) + ")$"
    config = LoraConfig(r=slots.rank, lora_alpha=cast(Any, alpha), target_modules=pattern, lora_dropout=0.0, bias="none")
    with slots.detached():
        fresh = copy.deepcopy(base)
    with warnings.catch_warnings():  # peft 0.21 reads an attribute transformers 5 deprecates
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = get_peft_model(fresh, config)
    inner = model.get_base_model()
    with torch.no_grad():
        for slot, (a, b) in zip(slots.slots, factors, strict=True):
            layer: Any = inner.get_submodule(slot.name)
            layer.lora_A["default"].weight.copy_(a)
            layer.lora_B["default"].weight.copy_(b)
    return model.eval()
