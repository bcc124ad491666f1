"""Prompts and targets of a causal LM as tensors: chat formatting, the loss mask, left-padded prompts.

``training_batch`` concatenates each prompt's tokens with its target's tokens (plus the end-of-turn
token) and right-pads; ``labels`` is ``-100`` on the prompt and on padding, so :func:`target_loss`
counts the target tokens only. ``prompt_batch`` left-pads prompts for generation.

Example:
    >>> import torch
    >>> logits = torch.zeros(1, 3, 5)
    >>> labels = torch.tensor([[-100, 2, 4]])
    >>> round(float(target_loss(logits, labels)), 4)   # uniform logits: ln 5 on the 2 target tokens
    1.6094
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

IGNORE = -100


def format_prompt(tokenizer: Any, prompt: str, description: str | None) -> str:
    """The text the LM sees before its answer: the description and the input, in the chat template if it has one."""
    content = prompt if description is None else f"{description}\nInput: {prompt}"
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False))
    return f"{content}\nAnswer: "


def end_of_answer(tokenizer: Any) -> int:
    """The token that ends an answer: the chat template's end-of-turn token, else ``eos_token_id``."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.convert_tokens_to_ids(["<|im_end|>"])
        if ids and ids[0] is not None and ids[0] != getattr(tokenizer, "unk_token_id", None):
            return int(ids[0])
    return int(tokenizer.eos_token_id)


def pad_id(tokenizer: Any) -> int:
    """``pad_token_id``, else ``eos_token_id`` (decoder tokenizers often have no padding token)."""
    pid = getattr(tokenizer, "pad_token_id", None)
    return int(pid if pid is not None else tokenizer.eos_token_id)


def _ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    return [list(map(int, row)) for row in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def training_batch(
    tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], max_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, labels)`` of ``prompt + target + end``, right-padded; labels only on target tokens.

    A pair longer than ``max_length`` loses the start of its prompt, never its target.
    """
    end, pad = end_of_answer(tokenizer), pad_id(tokenizer)
    rows, labels = [], []
    for p, t in zip(_ids(tokenizer, prompts), _ids(tokenizer, targets), strict=True):
        answer = [*t, end][: max_length - 1]
        p = p[-(max_length - len(answer)) :]
        rows.append(p + answer)
        labels.append([IGNORE] * len(p) + answer)
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [IGNORE] * (width - len(r)) for r in labels])
    return ids, mask, lab


def prompt_batch(tokenizer: Any, prompts: Sequence[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of the prompts, left-padded for generation (longest prompt kept whole up to ``max_length``)."""
    rows = [r[-max_length:] for r in _ids(tokenizer, prompts)]
    width, pad = max(len(r) for r in rows), pad_id(tokenizer)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def target_positions(labels: torch.Tensor) -> torch.Tensor:
    """The positions whose next token is a target in some row: the only logits :func:`target_loss` needs.

    Pass them as ``logits_to_keep=`` to a Hugging Face causal LM, which then skips the vocabulary projection of
    every other position (most of a prompt), and the same tensor as ``kept=`` to :func:`target_loss`.
    """
    return (labels[:, 1:] != IGNORE).any(0).nonzero().squeeze(1)


def takes_logits_to_keep(lm: Any) -> bool:
    """Whether ``lm.forward`` has a ``logits_to_keep`` parameter (every causal LM of transformers 5; a custom one may not)."""
    try:
        return "logits_to_keep" in inspect.signature(lm.forward).parameters
    except (TypeError, ValueError):
        return False


def target_loss(logits: torch.Tensor, labels: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions whose label is not ``-100``.

    ``logits`` are ``(batch, length, vocab)``, or with ``kept`` (from :func:`target_positions`) the logits of those
    positions only, ``(batch, len(kept), vocab)``.
    """
    if kept is None:
        logits, targets = logits[:, :-1], labels[:, 1:]
    else:
        targets = labels[:, kept + 1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE)


def cut_answer(tokenizer: Any, ids: Sequence[int], end: int) -> str:
    """The generated text up to the first end token, stripped."""
    ids = list(ids)
    if end in ids:
        ids = ids[: ids.index(end)]
    return str(tokenizer.decode(ids, skip_special_tokens=True)).strip()
