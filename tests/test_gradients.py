"""Gradients: gradcheck in float64 through every generator, and every trainable parameter gets a gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn

from .conftest import build, small_generator


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradcheck_through_generator(generator_name: str, per_sample: bool) -> None:
    target = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    model = hn.HyperModel(target, condition=hn.Continuous(2, 4), generator=small_generator(generator_name)).double()
    x = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    cond = (
        torch.rand(3, 2, dtype=torch.float64, requires_grad=True) if per_sample else torch.rand(2, dtype=torch.float64, requires_grad=True)
    )
    name, w = next((n, p) for n, p in reversed(list(model.named_parameters())) if n.startswith("generator.") and n.endswith("weight"))

    def f(xx: torch.Tensor, cc: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, {name: ww}, (xx, cc))

    w_in = w.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x, cond, w_in), eps=1e-6, atol=1e-5)


def test_every_trainable_parameter_gets_a_finite_gradient(target_name: str, generator_name: str) -> None:
    model, inputs = build(target_name, generator_name, generate=lambda name, p: "bias" not in name or "head" in name)
    model.train()
    model(inputs(6), torch.tensor([0, 1, 1, 2, 3, 0])).float().square().mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for name, p in trainable:
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    shared = [n for n, _ in trainable if n.startswith("target.")]
    assert shared, "non-generated target parameters must stay trainable"
    for name in model.spec.names:
        p = model.target.get_parameter(name)
        assert not p.requires_grad and p.grad is None, f"generated {name} must not be trainable"


def test_generated_target_parameters_are_not_updated_by_training() -> None:
    model, inputs = build("mlp")
    before = {n: model.target.get_parameter(n).detach().clone() for n in model.spec.names}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        model(inputs(4), 1).square().mean().backward()
        opt.step()
    for n, old in before.items():
        assert torch.equal(model.target.get_parameter(n), old)


def test_a_training_step_reduces_the_loss() -> None:
    model, inputs = build("mlp", "chunked")
    x, y = inputs(32), torch.randint(0, 3, (32,))
    ids = torch.randint(0, 5, (32,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x, ids), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
