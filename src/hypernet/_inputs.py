"""The target's arguments as one pytree, split into per-sample and shared leaves.

With per-sample conditions every input that carries the batch must travel with its
samples: ``x``, extra positional arguments, keyword arguments and tensors nested in
dicts, lists or tuples (an ``attention_mask``, ``decoder_input_ids``, ``pixel_values``).
The rule: a tensor whose size at ``dim`` equals the batch size is per-sample, unless
its argument is named in ``shared`` (a keyword name, or a positional index with 0 for
``x``); every other leaf is given unchanged to every weight set.

Example:
    >>> import torch
    >>> inputs = Inputs.of((torch.zeros(4, 3),), {"mask": torch.ones(4, 7), "scale": torch.ones(3)}, size=4, dim=0)
    >>> [tuple(t.shape) for t in inputs.front()]
    [(4, 3), (4, 7)]
    >>> args, kwargs = inputs.select(torch.tensor([0, 2])).rebuild()
    >>> tuple(args[0].shape), tuple(kwargs["mask"].shape), tuple(kwargs["scale"].shape)
    ((2, 3), (2, 7), (3,))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten

Args = tuple[Any, ...]
Kwargs = dict[str, Any]


def call_arguments(x: Any, args: Args, kwargs: Kwargs) -> tuple[Args, Kwargs]:
    """``(x, *args)`` and ``kwargs``; a ``Mapping`` given as ``x`` (a tokenizer's output) is splatted as keywords."""
    if isinstance(x, Mapping):
        clash = sorted(set(x) & set(kwargs))
        if clash:
            from .errors import ConditionError

            raise ConditionError(
                f"expected each keyword once, got {', '.join(map(repr, clash))} both in the mapping given as x and as keyword arguments; "
                "pass it in one place"
            )
        return tuple(args), {**{str(k): v for k, v in x.items()}, **kwargs}
    return (x, *args), dict(kwargs)


@dataclass(frozen=True)
class Inputs:
    """Flattened ``(args, kwargs)`` of one target call; ``batched`` are the leaves with the batch at ``dim``."""

    leaves: tuple[Any, ...]
    spec: TreeSpec
    batched: tuple[int, ...]
    dim: int
    size: int
    owners: tuple[int | str, ...] = ()  # per leaf: the keyword name or positional index of the argument holding it

    @classmethod
    def of(cls, args: Args, kwargs: Kwargs, size: int, dim: int, shared: Collection[str | int] = ()) -> Inputs:
        """Split the arguments of a call on ``size`` samples (batch at ``dim``) into per-sample and shared leaves."""
        leaves, spec = tree_flatten((tuple(args), dict(kwargs)))
        keyed: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
        owners: list[int | str] = []
        for key, value in keyed:
            owners += [key] * len(tree_flatten(value)[0])
        batched = tuple(
            i
            for i, (leaf, owner) in enumerate(zip(leaves, owners, strict=True))
            if owner not in shared and isinstance(leaf, torch.Tensor) and leaf.dim() > dim and leaf.shape[dim] == size
        )
        return cls(tuple(leaves), spec, batched, dim, size, tuple(owners))

    @classmethod
    def unbatched(cls, args: Args, kwargs: Kwargs) -> Inputs:
        """Arguments shared by every weight set (no leaf travels with samples)."""
        leaves, spec = tree_flatten((tuple(args), dict(kwargs)))
        return cls(tuple(leaves), spec, (), 0, 0)

    def carries_batch(self, keys: Collection[str | int]) -> bool | None:
        """Whether a tensor leaf of the arguments ``keys`` is per sample; ``None`` when they hold no tensor."""
        own = [i for i, o in enumerate(self.owners) if o in keys and isinstance(self.leaves[i], torch.Tensor)]
        return any(i in self.batched for i in own) if own else None

    def front(self) -> list[torch.Tensor]:
        """The per-sample leaves with their batch dimension moved first."""
        return [self.leaves[i].movedim(self.dim, 0) for i in self.batched]

    def rebuild(self, front: list[torch.Tensor] | None = None) -> tuple[Args, Kwargs]:
        """``(args, kwargs)`` for the target; ``front`` replaces the per-sample leaves (batch first)."""
        leaves = list(self.leaves)
        if front is not None:
            for i, t in zip(self.batched, front, strict=True):
                leaves[i] = t.movedim(0, self.dim)
        args, kwargs = tree_unflatten(leaves, self.spec)
        return args, kwargs

    def select(self, rows: torch.Tensor) -> Inputs:
        """The same call restricted to the samples ``rows``."""
        leaves = list(self.leaves)
        for i in self.batched:
            leaves[i] = leaves[i].index_select(self.dim, rows)
        return replace(self, leaves=tuple(leaves), size=rows.numel())
