"""The frozen base: tokenising, mean pooling, and the cache of lower-layer activations.

With ``cache=True`` the hidden states entering the lowest adapted layer are computed once per
text (without adapters they do not depend on the task) and kept, trimmed to the text's tokens;
later calls run only the layers from there up. This reuses the base's own ``forward`` (masks,
position handling) by feeding the cached states in place of the embedding module's output and
running a shortened layer stack. :meth:`FrozenBase.check_cache` verifies once, on a probe input,
that this reproduces the full forward; architectures where it does not are refused.

Example:
    >>> import torch
    >>> mean_pool(torch.ones(1, 3, 2), torch.tensor([[1, 1, 0]])).tolist()
    [[1.0, 1.0]]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ._target import find_layers


class _Stop(Exception):
    """Raised by a hook to end a forward pass early."""


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` ``(N, T, H)`` over the tokens where ``mask`` ``(N, T)`` is 1."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def _last_hidden(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ConfigError(
        f"expected the base to return hidden states (a tensor or an output with last_hidden_state), got {type(out).__name__}; "
        "pass a base model (e.g. transformers.AutoModel) rather than a head"
    )


class FrozenBase:
    """A frozen encoder or decoder plus its tokenizer; runs it (whole, or from cached lower-layer states)."""

    def __init__(self, base: nn.Module, tokenizer: Callable[..., Any], max_length: int, batch_size: int = 32):
        self.base, self.tokenizer, self.max_length, self.batch_size = base, tokenizer, max_length, batch_size
        self._pooled: dict[str, torch.Tensor] = {}
        self._lower: dict[str, torch.Tensor] = {}
        self.start: int | None = None  # first layer run from the cache
        self._stem: nn.Module | None = None

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)``, padded to the longest text, truncated to ``max_length``."""
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def run(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The base's last hidden states ``(N, T, H)`` (with whatever adapters are active)."""
        return _last_hidden(self.base(input_ids=ids, attention_mask=mask))

    def pooled(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised mean-pooled embeddings of the frozen base (no adapters), memoised per text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._pooled))
        with torch.no_grad():
            for i in range(0, len(todo), self.batch_size):
                chunk = todo[i : i + self.batch_size]
                if self.start is not None:  # the cached path equals the full forward (check_cache)
                    hidden, mask = self.run_cached(chunk)
                else:
                    ids, mask = self.tokenize(chunk)
                    hidden = self.run(ids, mask)
                emb = F.normalize(mean_pool(hidden, mask), dim=-1)
                self._pooled.update(zip(chunk, emb, strict=True))
        return torch.stack([self._pooled[t] for t in texts]) if texts else torch.zeros(0)

    def share(self, other: FrozenBase) -> None:
        """Share ``other``'s memo of embeddings and lower-layer states (both must wrap copies of one base)."""
        self._pooled, self._lower = other._pooled, other._lower

    # ---- cache of the lower layers -------------------------------------------------------------
    def enable_cache(self, start: int) -> None:
        """Cache the hidden states entering layer ``start``; raises :class:`ConfigError` if the base does not allow it."""
        found = find_layers(self.base)
        if found is None:
            raise ConfigError(
                f"cache=True: expected a base with a stack of layers (an nn.ModuleList), got {type(self.base).__name__} without one; "
                "pass cache=False"
            )
        self._layers_name, self._layers = found
        parent_name, _, self._attr = self._layers_name.rpartition(".")
        self._parent = self.base.get_submodule(parent_name) if parent_name else self.base
        self._stem = self._find_stem()
        self.start = start

    def _find_stem(self) -> nn.Module:
        """The module whose output is the input of layer 0 (e.g. BERT's ``embeddings``, Llama's ``embed_tokens``)."""
        seen: dict[str, torch.Tensor] = {}
        handles = []
        for name, module in self.base.named_children():
            if name == self._layers_name.split(".")[0]:
                continue
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o)))
            for sub_name, sub in module.named_children():
                full = f"{name}.{sub_name}"
                handles.append(sub.register_forward_hook(lambda m, i, o, full=full: seen.__setitem__(full, o)))
        first: list[torch.Tensor] = []
        handles.append(self._layers[0].register_forward_pre_hook(lambda m, args: first.append(args[0]) if args else None))
        try:
            ids, mask = self.tokenize(["a probe text", "a longer probe text for the cache check"])
            with torch.no_grad():
                self.run(ids, mask)
        finally:
            for h in handles:
                h.remove()
        for name, out in seen.items():
            if first and isinstance(out, torch.Tensor) and out.shape == first[0].shape and torch.equal(out, first[0]):
                return self.base.get_submodule(name)
        raise ConfigError(
            "cache=True: expected to find the module whose output enters the first layer of this base, got none; pass cache=False"
        )

    def lower(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Hidden states entering layer ``start`` per text, ``(T_i, H)``, computed once (memoised)."""
        assert self.start is not None
        todo = list(dict.fromkeys(t for t in texts if t not in self._lower))
        captured: list[torch.Tensor] = []

        def stop(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            captured.append(args[0] if args else kwargs["hidden_states"])
            raise _Stop  # the layers above are not needed

        handle = self._layers[self.start].register_forward_pre_hook(stop, with_kwargs=True)
        try:
            with torch.no_grad():
                for i in range(0, len(todo), self.batch_size):
                    chunk = todo[i : i + self.batch_size]
                    ids, mask = self.tokenize(chunk)
                    captured.clear()
                    with contextlib.suppress(_Stop):
                        self.run(ids, mask)
                    for text, h, m in zip(chunk, captured[0], mask, strict=True):
                        self._lower[text] = h[: int(m.sum())].clone()
        finally:
            handle.remove()
        return [self._lower[t] for t in texts]

    @contextmanager
    def upper_only(self, hidden: torch.Tensor) -> Iterator[None]:
        """Inside, the base runs only the layers from ``start``, on ``hidden`` (the states entering layer ``start``)."""
        assert self._stem is not None and self.start is not None
        handle = self._stem.register_forward_hook(lambda m, i, o: hidden)
        full = self._parent._modules[self._attr]
        self._parent._modules[self._attr] = nn.ModuleList(list(self._layers)[self.start :])
        try:
            yield
        finally:
            self._parent._modules[self._attr] = full
            handle.remove()

    def inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """The keyword arguments of a run on ``texts``: ``input_ids`` and ``attention_mask``, plus ``lower`` with the cache.

        ``lower`` holds the cached states entering layer ``start``, padded (``input_ids`` are then unused zeros).
        """
        if self.start is None:
            ids, mask = self.tokenize(texts)
            return {"input_ids": ids, "attention_mask": mask}
        states = self.lower(texts)
        length = max(s.shape[0] for s in states)
        hidden = states[0].new_zeros(len(states), length, states[0].shape[-1])
        mask = torch.zeros(len(states), length, dtype=torch.long)
        for i, s in enumerate(states):
            hidden[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = 1
        return {"input_ids": torch.zeros(len(states), length, dtype=torch.long), "attention_mask": mask, "lower": hidden}

    def run_cached(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(last hidden states, mask)`` of ``texts`` running only the layers from ``start`` on cached states."""
        kw = self.inputs(texts)
        with self.upper_only(kw["lower"]):
            out = self.run(kw["input_ids"], kw["attention_mask"])
        return out, kw["attention_mask"]

    def hidden(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(last hidden states, mask)`` of ``texts``, from the cache when enabled."""
        if self.start is not None:
            return self.run_cached(texts)
        ids, mask = self.tokenize(texts)
        return self.run(ids, mask), mask

    def check_cache(self) -> float:
        """Largest difference between the cached and the full forward on a probe batch; refuses the cache if above 1e-4."""
        probe = ["a probe text", "another, somewhat longer probe text to check the cache"]
        with torch.no_grad():
            cached, cmask = self.run_cached(probe)
            ids, mask = self.tokenize(probe)
            full = self.run(ids, mask)
        for key in probe:
            self._lower.pop(key, None)
            self._pooled.pop(key, None)
        err = float((mean_pool(cached, cmask) - mean_pool(full, mask)).abs().max())
        if cached.shape != full.shape or err > 1e-4:
            self.start = None
            raise ConfigError(
                f"cache=True: expected the cache to reproduce this base's forward, got a difference of {err:.2e}; pass cache=False"
            )
        return err
