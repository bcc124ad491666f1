"""The target is never mutated by a call, including a call that raises; buffers behave as in plain PyTorch."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import hypernet as hn

from .conftest import build, make_cnn, same_state, snapshot


def _hooks(m: nn.Module) -> list[int]:
    return [len(sub._forward_hooks) + len(sub._forward_pre_hooks) + len(sub._backward_hooks) for sub in m.modules()]


@pytest.mark.parametrize("training", [True, False])
def test_target_unchanged_after_a_failing_call(target_name: str, training: bool) -> None:
    model, inputs = build(target_name)
    model.train(training)
    state, flags, hooks = snapshot(model.target), [m.training for m in model.target.modules()], _hooks(model.target)
    x = inputs(4)
    bad_inputs = [torch.cat([x, x], dim=1 if target_name == "cnn" else -1), x.double()]
    for bad in bad_inputs:
        with pytest.raises((RuntimeError, ValueError, AssertionError)):
            model(bad, 1)
    with pytest.raises(hn.ConditionError):
        model(inputs(4), torch.tensor([0, 1]))
    assert same_state(state, snapshot(model.target))
    assert flags == [m.training for m in model.target.modules()]
    assert hooks == _hooks(model.target)


def test_buffers_restored_when_the_failure_comes_after_batchnorm() -> None:
    class Fails(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom after the BatchNorm ran")

    target = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), Fails())
    model = hn.HyperModel(target, condition=hn.Embedding(2, 4), generate="0.*").train()
    before = snapshot(target)
    with pytest.raises(RuntimeError, match="boom"):
        model(torch.randn(4, 1, 5, 5), 0)
    with pytest.raises(RuntimeError, match="boom"):
        model(torch.randn(4, 1, 5, 5), torch.tensor([0, 1, 0, 1]))
    assert same_state(before, snapshot(target))


def test_batchnorm_running_stats_update_in_train_mode_only() -> None:
    model = hn.HyperModel(make_cnn(), condition=hn.Embedding(3, 8))
    bn = model.target[1]
    x = torch.randn(8, 1, 6, 6) * 3 + 1
    model.eval()
    before = snapshot(bn)
    model(x, 0)
    model(x, torch.tensor([0, 1] * 4))
    assert same_state(before, snapshot(bn))
    model.train()
    model(x, 0)
    assert not torch.equal(bn.running_mean, before["running_mean"])
    assert int(bn.num_batches_tracked) == 1
    model(x, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    assert int(bn.num_batches_tracked) == 4  # one update per unique condition, as plain per-group calls would


def test_successful_call_does_not_touch_parameters_or_training_flag() -> None:
    model, inputs = build("transformer")
    model.eval()
    reference = copy.deepcopy(model.target)
    model(inputs(3), torch.tensor([0, 1, 2]))
    assert same_state(snapshot(reference), snapshot(model.target))
    assert not model.target.training


def test_any_buffer_updated_in_place_is_restored_on_failure() -> None:
    class Counter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.register_buffer("calls", torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls.add_(1)
            out = self.lin(x)
            if x.shape[0] > 2:
                raise RuntimeError("too many rows")
            return out

    target = Counter()
    model = hn.HyperModel(target, condition=hn.Embedding(2, 4), generator="mlp").train()
    model(torch.randn(2, 3), 0)
    assert float(target.calls) == 1
    with pytest.raises(RuntimeError, match="too many rows"):
        model(torch.randn(3, 3), 1)
    assert float(target.calls) == 1
