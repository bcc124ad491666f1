"""Small GPT-2 language models for training a low-rank (LoGAH-style) GHN: a config sampler and held-out configs.

:class:`GPT2Sampler` draws Hugging Face ``GPT2LMHeadModel`` configs of 2-6 layers, width 64-256 (steps
of 32) and 2-8 heads (head size >= 8), never one of :data:`HELD_OUT`: ten configs kept for evaluation,
six inside the training ranges and four beyond them (wider: 320, 384; deeper: 8, 10 layers).
Models are built without dropout and without a KV cache, with tied input/output embeddings.
Needs ``transformers`` (the ``hf`` extra).

Example:
    >>> import torch
    >>> sampler = GPT2Sampler(vocab=30, context=16)
    >>> cfg = sampler.spec(torch.Generator().manual_seed(0))
    >>> 2 <= cfg.layers <= 6 and 64 <= cfg.width <= 256 and cfg.width % cfg.heads == 0
    True
    >>> model = cfg.build(vocab=30, context=16)
    >>> model(torch.zeros(1, 16, dtype=torch.long)).logits.shape
    torch.Size([1, 16, 30])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError

LAYERS = (2, 3, 4, 5, 6)
WIDTHS = (64, 96, 128, 160, 192, 224, 256)
HEADS = (2, 4, 8)


@dataclass(frozen=True)
class GPT2Spec:
    """One GPT-2 shape: layers, width (``n_embd``) and heads."""

    layers: int
    width: int
    heads: int

    def build(self, vocab: int, context: int) -> nn.Module:
        """A freshly initialised ``GPT2LMHeadModel`` (Hugging Face default init, no dropout, no cache)."""
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            n_layer=self.layers, n_embd=self.width, n_head=self.heads, vocab_size=vocab, n_positions=context,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False, bos_token_id=0, eos_token_id=0,
        )  # fmt: skip
        return GPT2LMHeadModel(config)

    def __str__(self) -> str:
        return f"L{self.layers}-d{self.width}-h{self.heads}"


HELD_OUT: tuple[GPT2Spec, ...] = (
    GPT2Spec(2, 96, 4),
    GPT2Spec(3, 160, 4),
    GPT2Spec(4, 128, 8),
    GPT2Spec(5, 224, 4),
    GPT2Spec(6, 192, 8),
    GPT2Spec(4, 256, 2),
    GPT2Spec(3, 320, 8),  # wider than training
    GPT2Spec(2, 384, 8),  # wider
    GPT2Spec(8, 128, 4),  # deeper
    GPT2Spec(10, 96, 4),  # deeper
)
"""Evaluation configs: never drawn by :class:`GPT2Sampler`; the last four lie outside its ranges."""


class GPT2Sampler:
    """Random :class:`GPT2Spec` s of the training ranges (excluding :data:`HELD_OUT`), built as LMs.

    Args:
        vocab: vocabulary size of the built models.
        context: maximum sequence length (``n_positions``).
    """

    def __init__(self, vocab: int, context: int) -> None:
        if vocab < 2 or context < 1:
            raise ConfigError(f"expected vocab >= 2 and context >= 1, got vocab={vocab}, context={context}; pass larger sizes")
        self.vocab, self.context = vocab, context

    def spec(self, generator: torch.Generator) -> GPT2Spec:
        """One random spec of the training ranges."""

        def pick(options: tuple[Any, ...]) -> Any:
            return options[int(torch.randint(len(options), (1,), generator=generator))]

        while True:
            width = pick(WIDTHS)
            heads = pick(tuple(h for h in HEADS if width % h == 0 and width // h >= 8))
            spec = GPT2Spec(pick(LAYERS), width, heads)
            if spec not in HELD_OUT:
                return spec

    def sample(self, generator: torch.Generator) -> nn.Module:
        """A freshly built random GPT-2 LM."""
        return self.spec(generator).build(self.vocab, self.context)
