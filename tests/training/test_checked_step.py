"""``checked_step``: the shared training path's checks for recipes with their own loop."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hypernet.training import TrainingError
from hypernet.training.loop import checked_step


def _model_and_optimizer() -> tuple[nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    loss = model(torch.randn(4, 3)).pow(2).mean()  # one real step, so the optimizer has state to keep
    checked_step(loss, optimizer, list(model.parameters()), where="step 1", fix="lower lr", first=True)
    return model, optimizer


def test_a_good_step_equals_the_plain_optimizer_step() -> None:
    model, optimizer = _model_and_optimizer()
    twin = nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    twin_opt = torch.optim.Adam(twin.parameters(), lr=0.1)
    twin_opt.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # its own moment tensors
    x = torch.randn(5, 3)
    value = checked_step(model(x).pow(2).mean(), optimizer, list(model.parameters()), where="step 2", fix="lower lr")
    twin_loss = twin(x).pow(2).mean()
    twin_opt.zero_grad()
    twin_loss.backward()
    twin_opt.step()
    assert value == pytest.approx(twin_loss.item())
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("nan_loss", "expected a finite loss, got nan at step 2 of X.fit"),
        ("nan_gradient", "expected finite gradients, got a gradient norm of nan at step 2 of X.fit"),
        ("zero_gradient", "expected a non-zero gradient .* after step 2 of X.fit"),
    ],
)
def test_a_broken_step_raises_and_changes_nothing(broken: str, message: str) -> None:
    model, optimizer = _model_and_optimizer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: v.clone() for k, v in optimizer.state_dict()["state"][0].items() if isinstance(v, torch.Tensor)}
    out = model(torch.randn(4, 3))
    if broken == "nan_loss":
        loss = out.sum() * float("nan")
    elif broken == "nan_gradient":  # a finite loss whose gradient is NaN
        loss = torch.sqrt((out - out.detach()).abs()).sum()
    else:
        loss = out.sum() * 0.0
    with pytest.raises(TrainingError, match=message):
        checked_step(loss, optimizer, list(model.parameters()), where="step 2 of X.fit", fix="lower lr", first=broken == "zero_gradient")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    for k, v in state.items():
        torch.testing.assert_close(optimizer.state_dict()["state"][0][k], v, rtol=0, atol=0)


def test_clip_clips_before_the_step() -> None:
    w = torch.ones(2, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=1.0)
    value = checked_step((3 * w).sum(), optimizer, [w], where="step 1", fix="lower lr", clip=1.0)
    assert value == pytest.approx(6.0)  # the loss (3 + 3); the step moved w by the clipped gradient of norm 1
    torch.testing.assert_close(w.detach(), torch.ones(2) - torch.full((2,), 2**-0.5), rtol=1e-5, atol=1e-5)
