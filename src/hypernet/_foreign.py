"""Running third-party models (Hugging Face ``transformers``) under ``torch.func.vmap``.

``transformers`` decides whether an attention mask can be skipped by reading its values
(``padding_mask.all()``), which vmap cannot do for a per-sample mask (data-dependent
control flow). While hypernet runs a target under vmap, those checks answer "do not
skip" for batched masks: the mask is then built explicitly, which is always correct
(skipping is only a speed-up for masks without padding). Unbatched calls are unaffected.
Nothing is imported: if ``transformers`` is not loaded, this does nothing.

Example:
    >>> allow_vmap_in_transformers()  # safe to call anywhere, any number of times
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import torch

MASK_SKIP_CHECKS = ("_ignore_bidirectional_mask_sdpa", "_ignore_causal_mask_sdpa")


def _is_batched(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and bool(torch._C._functorch.is_batchedtensor(value))


def _unless_batched(check: Callable[..., bool]) -> Callable[..., bool]:
    @functools.wraps(check)
    def wrapper(padding_mask: Any, *args: Any, **kwargs: Any) -> bool:
        if _is_batched(padding_mask):
            return False
        return check(padding_mask, *args, **kwargs)

    wrapper.__hypernet_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def allow_vmap_in_transformers() -> None:
    """Make ``transformers``' mask-skipping checks vmap-safe (idempotent; only if transformers is loaded)."""
    masking = sys.modules.get("transformers.masking_utils")
    if masking is None:
        return
    for name in MASK_SKIP_CHECKS:
        check = getattr(masking, name, None)
        if callable(check) and not getattr(check, "__hypernet_wrapped__", False):
            setattr(masking, name, _unless_batched(check))
