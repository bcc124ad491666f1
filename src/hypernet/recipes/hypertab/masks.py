"""Feature-subset masks for HyperTab: sampling them, and a :class:`~hypernet.Condition` that embeds them.

A mask is a 0/1 vector over the ``n_features`` input columns with exactly ``k``
ones. :class:`FeatureMasks` turns masks into embeddings for the hypernetwork; a
batch of masks is a per-sample condition, so U distinct masks give U weight sets
in one call of the core's batched path.

Example:
    >>> import numpy as np, torch
    >>> masks = sample_masks(n_features=6, k=3, count=4, rng=np.random.RandomState(0))
    >>> masks.shape, masks.sum(axis=1).astype(int).tolist()
    ((4, 6), [3, 3, 3, 3])
    >>> cond = FeatureMasks(n_features=6, dim=8)
    >>> split = cond.split(MaskBatch(torch.tensor(masks, dtype=torch.float32), torch.tensor([0, 0, 1, 3])))
    >>> split.mode, split.count, cond(split.values).shape
    ('per_sample', 4, torch.Size([4, 8]))
    >>> cond.split(MaskBatch(torch.tensor(masks, dtype=torch.float32))).mode
    'grouped'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..._boundary import guarded_function
from ..._limits import check_allocation
from ..._nn import mlp
from ..._validation import check_int
from ...conditions import Condition
from ...conditions._base import Split, check_positive, normalise_output_
from ...errors import ConditionError, describe


@dataclass(frozen=True)
class MaskBatch:
    """Several masks given compactly: ``masks`` ``(U, n_features)``, and ``index`` ``(B,)`` or ``None``.

    With ``index``: per-sample masks, ``index[i]`` naming sample i's mask (like passing
    ``masks[index]`` as a ``(B, n_features)`` condition, without deduplicating B rows).
    With ``index=None``: one input batch per mask, ``x`` of shape ``(U, n, ...)``; the
    output gets a leading dimension of U (every member on its own view of the rows).
    """

    masks: torch.Tensor
    index: torch.Tensor | None = None


def subset_indices(n_features: int, k: int, count: int, rng: np.random.RandomState) -> np.ndarray:
    """``count`` sorted index sets of ``k`` distinct features each, spread evenly over the features.

    Each set takes the ``k`` features used least so far (ties broken at random), so every
    feature appears in ``count * k / n_features`` sets, give or take one, and within a set
    no feature repeats.
    """
    usage = np.zeros(n_features)
    out = np.empty((count, k), dtype=np.int64)
    for i in range(count):
        chosen = np.lexsort((rng.random_sample(n_features), usage))[:k]
        usage[chosen] += 1
        out[i] = np.sort(chosen)
    return out


@guarded_function
def sample_masks(n_features: int, k: int, count: int, rng: np.random.RandomState) -> np.ndarray:
    """``count`` 0/1 masks (``float32``, shape ``(count, n_features)``) with ``k`` ones each; see :func:`subset_indices`."""
    check_int(n_features, "n_features", low=1, owner="sample_masks")
    check_int(k, "k", low=1, high=n_features, owner="sample_masks")
    check_int(count, "count", low=0, owner="sample_masks")
    check_allocation(count * n_features, "sample_masks", "use fewer masks or features")
    if not isinstance(rng, np.random.RandomState):
        raise ConditionError(f"expected rng to be a numpy RandomState, got {describe(rng)}; pass np.random.RandomState(0)")
    idx = subset_indices(n_features, k, count, rng)
    masks = np.zeros((count, n_features), dtype=np.float32)
    np.put_along_axis(masks, idx, 1.0, axis=1)
    return masks


class FeatureMasks(Condition):
    """Embeds a 0/1 feature-subset mask of size ``n_features`` with a ReLU MLP.

    Args:
        n_features: length of a mask (the number of input columns).
        dim: size of the embedding.
        hidden: width of the MLP's hidden layer.

    ``cond`` may be a ``(n_features,)`` mask (one weight set for the batch), a
    ``(B, n_features)`` tensor of masks (one per sample; equal rows share a weight
    set), or a :class:`MaskBatch`.

    Example:
        >>> import torch
        >>> cond = FeatureMasks(n_features=4, dim=8)
        >>> cond.split(torch.tensor([[1.0, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0]])).count
        2
    """

    kind = "feature-subset mask"

    def __init__(self, n_features: int, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.n_features = check_positive("n_features", n_features, "FeatureMasks")
        self.dim = check_positive("dim", dim, "FeatureMasks")
        self.hidden = check_positive("hidden", hidden, "FeatureMasks")
        self.net = mlp([n_features, hidden, dim])
        probe = (torch.rand(512, n_features) < 0.5).float()
        normalise_output_(self.net, probe)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, dim={self.dim}, hidden={self.hidden}"

    def _dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def _check_masks(self, masks: Any, what: str) -> torch.Tensor:
        hint = f"pass 0/1 masks of shape ({self.n_features},) or (B, {self.n_features})"
        if not isinstance(masks, torch.Tensor) or masks.dim() not in (1, 2) or masks.shape[-1] != self.n_features or masks.numel() == 0:
            raise ConditionError(f"expected {what} of shape ({self.n_features},) or (B, {self.n_features}), got {describe(masks)}; {hint}")
        self._check_device(masks, what)
        masks = masks.to(self._dtype())
        if not bool(((masks == 0) | (masks == 1)).all()):
            raise ConditionError(f"expected {what} holding only 0 and 1, got other values in {describe(masks)}; {hint}")
        return masks

    def split(self, cond: Any, samples: int | None = None) -> Split:
        self._no_samples(samples)
        if isinstance(cond, MaskBatch):
            masks = self._check_masks(cond.masks, "MaskBatch.masks")
            index = cond.index
            if index is None and masks.dim() == 2:
                return Split(masks, None, "grouped", masks.shape[0])
            if masks.dim() != 2 or not isinstance(index, torch.Tensor) or index.dim() != 1 or index.dtype != torch.long:
                raise ConditionError(
                    f"expected MaskBatch(masks (U, {self.n_features}), index LongTensor (B,)), got masks {describe(masks)}, "
                    f"index {describe(index)}; build it with MaskBatch(masks, torch.arange(U).repeat_interleave(n))"
                )
            self._check_device(index, "MaskBatch.index")
            if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= masks.shape[0]:
                raise ConditionError(
                    f"expected MaskBatch.index values in [0, {masks.shape[0]}), got {describe(index)}; pass indices of rows of masks"
                )
            return Split(masks, index, "per_sample", masks.shape[0])
        masks = self._check_masks(cond, "the mask condition")
        if masks.dim() == 1:
            return Split(masks.unsqueeze(0), None, "single", 1)
        unique, inverse = torch.unique(masks, dim=0, return_inverse=True)
        if unique.shape[0] == 1:
            return Split(unique, None, "single", 1)
        return Split(unique, inverse, "per_sample", unique.shape[0])

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.net(values)
