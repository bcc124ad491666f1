"""HyperparameterSweep: draws at a range's low end (p_low) and the gated generator's row gains on the base."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.generators.gated import GatedGenerator

from .test_hyperparameters import ce_loss


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_p_low_draws_exactly_low_that_often_and_leaves_other_axes_stratified() -> None:
    torch.manual_seed(0)
    space = {"l2": hn.LogUniform(1e-4, 1e-1), "s": hn.Uniform(0.0, 0.3, p_low=0.25)}
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, space, per_batch=4)
    for _ in range(20):  # 0.25 x 4 values: exactly one per batch at s = 0 (unit 0)
        values = torch.unique(sweep.sample_unit(8), dim=0)
        assert int((values[:, 1] == 0).sum()) == 1
        assert sorted((values[:, 0] * 4).floor().long().tolist()) == [0, 1, 2, 3]  # l2 still a Latin hypercube
    odd = hn.HyperparameterSweep(mlp(), ce_loss, {"s": hn.Uniform(0.0, 1.0, p_low=0.1)}, per_batch=5)
    share = torch.stack([torch.unique(odd.sample_unit(5), dim=0)[:, 0] == 0 for _ in range(400)]).float().mean()
    assert abs(float(share) - 0.1) < 0.03  # 0.5 per batch on average, rounded at random


def test_p_low_is_checked_and_part_of_the_range() -> None:
    assert hn.Uniform(0, 1, p_low=0.2) != hn.Uniform(0, 1) and repr(hn.Uniform(0, 1, p_low=0.2)) == "Uniform(0, 1, p_low=0.2)"
    assert hash(hn.Uniform(0, 1, p_low=0.2)) == hash(hn.Uniform(0.0, 1.0, p_low=0.2))
    for bad in (-0.1, 1.0, float("nan"), True):
        with pytest.raises(hn.ConfigError, match="p_low"):
            hn.Uniform(0, 1, p_low=bad)


def test_row_gains_start_at_zero_and_can_shrink_the_base_to_nothing() -> None:
    torch.manual_seed(0)
    space = {"l2": hn.LogUniform(1e-4, 1e-1)}
    plain = hn.HyperparameterSweep(mlp(), ce_loss, space, generator=GatedGenerator())
    gained = hn.HyperparameterSweep(mlp(), ce_loss, space)  # the default: GatedGenerator(gain=True)
    assert isinstance(gained.model.generator, GatedGenerator) and gained.model.generator.gain
    gained.load_state_dict(plain.state_dict(), strict=False)  # same weights; the gains start at tanh(0) = 0
    x = torch.randn(5, 6)
    torch.testing.assert_close(gained(x, 1e-3), plain(x, 1e-3))
    generator = gained.model.generator
    with torch.no_grad():
        for layer in generator.gains:
            layer.bias.fill_(-30.0)  # tanh -> -1: every row of the base times 0
        for value in generator.values:
            value.zero_()  # and no additive part
    for name, weight in gained.generate(1e-3).items():
        if weight.dim() == 2:
            assert float(weight.abs().max()) < 1e-6, name


def test_row_gains_get_gradients_and_follow_a_deep_copy() -> None:
    torch.manual_seed(0)
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1e-1)}, weight_decay="l2")
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    loss, _ = sweep.training_step(sweep, (x, y))
    loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in sweep.model.generator.gains.parameters())
    with torch.no_grad():
        for layer in sweep.model.generator.gains:
            layer.bias.fill_(0.5)
    twin = copy.deepcopy(sweep)
    before = twin(x, 1e-3)
    torch.testing.assert_close(before, sweep(x, 1e-3))
    with torch.no_grad():
        sweep.model.base.mul_(2.0)  # change the original: the copy's gains must read the copy's own base
    assert not torch.allclose(sweep(x, 1e-3), before)
    torch.testing.assert_close(twin(x, 1e-3), before)
