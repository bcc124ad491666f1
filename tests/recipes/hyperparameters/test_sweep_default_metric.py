"""The sweep validates with the user's own loss by default: a regression sweep gets a regression curve."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn

from .test_hyperparameters import _one_thread  # noqa: F401 - autouse fixture: one torch thread per test


def _regression() -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(192, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1 * torch.randn(192, generator=g)
    return DataLoader(TensorDataset(x[:128], y[:128]), batch_size=32, shuffle=True), DataLoader(
        TensorDataset(x[128:], y[128:]), batch_size=64
    )


def mse(out: torch.Tensor, y: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
    return (out.squeeze(-1) - y).square()


def test_regression_curve_is_the_users_loss_and_best_is_its_minimum() -> None:
    torch.manual_seed(0)
    train, val = _regression()
    sweep = hn.HyperparameterSweep(nn.Linear(4, 1), mse, {"l2": hn.LogUniform(1e-4, 10.0)}, weight_decay="l2")
    sweep.fit(train, epochs=30, lr=3e-2)
    curve = sweep.curve([1e-4, 1.0, 10.0], val)
    assert list(curve.metrics) == ["loss"]  # no accuracy for a regression output
    loss = curve.metrics["loss"]
    assert loss[0] < 0.5 * loss[2]  # strong L2 shrinks the fit: the curve is not constant
    assert sweep.best() == {"l2": 1e-4}
    net = sweep.materialize(1e-4)
    x, y = next(iter(val))
    with torch.no_grad():
        assert float(loss[0]) == pytest.approx(float(mse(net(x), y, {}).mean()), rel=1e-4)


def test_a_loss_that_cannot_validate_is_a_clear_error() -> None:
    train, val = _regression()

    def needs_train_only(out: torch.Tensor, y: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
        if not torch.is_grad_enabled():
            raise RuntimeError("this loss only works in training")
        return mse(out, y, hp)

    sweep = hn.HyperparameterSweep(nn.Linear(4, 1), needs_train_only, {"l2": hn.LogUniform(1e-4, 1.0)}, weight_decay="l2")
    sweep.fit(train, epochs=1)
    with pytest.raises(hn.ConfigError, match="default validation metric is your own loss"):
        sweep.curve(2, val)
