"""The FeatureMasks condition and mask sampling, on their own and inside a HyperModel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.hypertab.masks import FeatureMasks, MaskBatch, sample_masks, subset_indices


def test_subset_indices_are_distinct_sorted_and_balanced() -> None:
    idx = subset_indices(10, 3, 40, np.random.RandomState(0))
    assert idx.shape == (40, 3)
    assert all(len(set(row)) == 3 and list(row) == sorted(row) for row in idx)
    usage = np.bincount(idx.ravel(), minlength=10)
    assert usage.max() - usage.min() <= 1
    np.testing.assert_array_equal(idx, subset_indices(10, 3, 40, np.random.RandomState(0)))


def test_split_modes() -> None:
    cond = FeatureMasks(n_features=4, dim=8, hidden=16)
    m = torch.tensor([[1.0, 1, 0, 0], [0, 1, 1, 0], [1, 1, 0, 0]])
    assert cond.split(m[0]).mode == "single"
    split = cond.split(m)
    assert (split.mode, split.count) == ("per_sample", 2)
    assert cond.split(m[[0, 2]]).mode == "single"
    assert cond.split(m.bool()).count == 2
    batch = cond.split(MaskBatch(m, torch.tensor([0, 0, 2, 1])))
    assert (batch.mode, batch.count) == ("per_sample", 3)
    grouped = cond.split(MaskBatch(m))
    assert (grouped.mode, grouped.count) == ("grouped", 3)
    assert cond(split.values).shape == (2, 8)
    assert "n_features=4" in repr(cond)


@pytest.mark.parametrize(
    ("cond", "match"),
    [
        (torch.ones(3), r"shape \(4,\)"),
        ("mask", r"shape \(4,\)"),
        (torch.full((2, 4), 0.5), "only 0 and 1"),
        (MaskBatch(torch.ones(2, 4), torch.tensor([0, 2])), r"index values in \[0, 2\)"),
        (MaskBatch(torch.ones(2, 4), torch.tensor([0.0, 1.0])), "index LongTensor"),
        (MaskBatch(torch.ones(4), torch.tensor([0])), "index LongTensor"),
    ],
)
def test_bad_conditions(cond: object, match: str) -> None:
    with pytest.raises(hn.ConditionError, match=match):
        FeatureMasks(n_features=4, dim=8).split(cond)


def test_no_samples_and_bad_config() -> None:
    with pytest.raises(hn.ConditionError, match="samples=None"):
        FeatureMasks(4, 8).split(torch.ones(4), samples=3)
    with pytest.raises(hn.ConfigError, match="n_features"):
        FeatureMasks(0, 8)


def test_per_sample_and_grouped_paths_agree_with_single_masks() -> None:
    """Mask batches through HyperModel equal one call per mask (the per-sample, grouped and single paths)."""
    masks = torch.as_tensor(sample_masks(6, 3, 4, np.random.RandomState(1)))
    model = hn.HyperModel(nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)), condition=FeatureMasks(6, 8), generator="mlp")
    x = torch.randn(4, 7, 3)
    grouped = model(x, MaskBatch(masks))
    per_sample = model(x.flatten(0, 1), MaskBatch(masks, torch.arange(4).repeat_interleave(7))).view(4, 7, 2)
    dense = model(x.flatten(0, 1), masks.repeat_interleave(7, dim=0)).view(4, 7, 2)
    singles = torch.stack([model(x[j], masks[j]) for j in range(4)])
    for out in (grouped, per_sample, dense):
        torch.testing.assert_close(out, singles, atol=1e-5, rtol=1e-5)
