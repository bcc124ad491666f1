"""Export one generated adapter as a standalone PEFT LoRA (PEFT's own ``save_pretrained`` format).

With ``kind="lora"`` the adapted base is a ``peft.PeftModel`` (see ``_target.py``); a copy of it
with the generated factors of one condition in place of its (zero) adapter weights is that
condition's adapter. ``PeftModel.from_pretrained(fresh_base, path)`` then reproduces the
recipe's hidden states.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError


def peft_lora(wrapper: nn.Module, generated: Mapping[str, torch.Tensor], prefix: str = "model.") -> Any:
    """A copy of the ``peft.PeftModel`` ``wrapper`` holding ``generated`` (the HyperModel target's names, ``prefix`` + PEFT's)."""
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - the hf extra is part of dev
        raise ConfigError("expected peft to export a PEFT adapter, got an ImportError; install it: pip install 'hypernet[hf]'") from None
    if not isinstance(wrapper, PeftModel):
        raise ConfigError(
            "expected kind='lora' to export a PEFT adapter, got kind='adapter' (PEFT has no bottleneck adapters); "
            "build the model with kind='lora'"
        )
    model = copy.deepcopy(wrapper)
    with torch.no_grad():
        for name, value in generated.items():
            model.get_parameter(name.removeprefix(prefix)).copy_(value)
    return model.eval()
