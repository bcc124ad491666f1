"""A tiny whitespace tokenizer with the Hugging Face call signature, for tests and examples without downloads.

Example:
    >>> tok = tiny_tokenizer(vocab_size=32)
    >>> enc = tok(["a b", "c"], padding=True, truncation=True, max_length=8, return_tensors="pt")
    >>> enc["input_ids"].shape, enc["attention_mask"].tolist()
    (torch.Size([2, 4]), [[1, 1, 1, 1], [1, 1, 1, 0]])
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import torch


class TinyTokenizer:
    """Words -> ids by a stable hash (ids 3..vocab_size-1); ``[CLS]`` = 1, ``[SEP]`` = 2, padding = 0."""

    def __init__(self, vocab_size: int = 64):
        self.vocab_size = vocab_size

    def _ids(self, text: str) -> list[int]:
        return [3 + zlib.crc32(w.lower().encode()) % (self.vocab_size - 3) for w in text.split()]

    def __call__(
        self, texts: Sequence[str], *, padding: Any = True, truncation: bool = True, max_length: int = 128, return_tensors: str = "pt"
    ) -> dict[str, torch.Tensor]:
        rows = [[*[1, *self._ids(t)][: max_length - 1], 2] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}


def tiny_tokenizer(vocab_size: int = 64) -> TinyTokenizer:
    """A :class:`TinyTokenizer`."""
    return TinyTokenizer(vocab_size)
