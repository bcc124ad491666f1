"""Running a Hugging Face-style encoder on texts: token embeddings, pooling, width.

The encoder is any module called as ``encoder(input_ids=..., attention_mask=...)`` that returns a
tensor ``(B, L, width)`` or an object with ``last_hidden_state``; the tokenizer is called as a
Hugging Face tokenizer (``padding``, ``truncation``, ``max_length``, ``return_tensors="pt"``).

Example:
    >>> import torch
    >>> h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]]); m = torch.tensor([[1, 1, 0]])
    >>> pool(h, m, "mean").tolist(), pool(h, m, "first").tolist()
    ([[2.0, 3.0]], [[1.0, 2.0]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError

POOLINGS = ("mean", "first")


def encoder_width(encoder: nn.Module) -> int:
    """The hidden size of an encoder (``config.hidden_size``, else ``hidden_size`` / ``embedding_dim`` attributes)."""
    for owner in (getattr(encoder, "config", None), encoder):
        for name in ("hidden_size", "embedding_dim", "width"):
            value = getattr(owner, name, None)
            if isinstance(value, int):
                return value
    raise ConfigError(
        f"expected an encoder with config.hidden_size (a Hugging Face model) or a `width` attribute, got {type(encoder).__name__}; "
        "pass e.g. transformers.AutoModel.from_pretrained(name)"
    )


def tokens(encoder: nn.Module, tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hidden (B, L, width), attention_mask (B, L))`` of ``texts``."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    device = next(encoder.parameters()).device
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    out = encoder(input_ids=ids, attention_mask=mask)
    hidden = out if isinstance(out, torch.Tensor) else out.last_hidden_state
    return hidden, mask


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Mean over the attention mask, or the first token."""
    if how == "first":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def check_texts(texts: Any, what: str) -> list[str]:
    """``texts`` as a non-empty list of strings (raises :class:`~hypernet.ConfigError`)."""
    if isinstance(texts, str):
        raise ConfigError(f"expected a list of {what} texts, got one string; wrap it in a list: [{texts[:30]!r}]")
    out = list(texts)
    if not out:
        raise ConfigError(
            f"expected at least one {what} text, got an empty list (an empty corpus cannot be indexed or searched); "
            f"pass at least one {what} text"
        )
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"expected {what} texts to be strings, got {type(out[bad[0]]).__name__} at position {bad[0]}; pass a list of str")
    return out
