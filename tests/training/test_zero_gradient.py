"""No silent no-op training: the shared loop refuses a first step that gives every trainable parameter zero gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypernet.training import TrainingError, fit


def _data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    return [(torch.randn(8, 3), torch.randint(0, 2, (8,))) for _ in range(4)]


class Identical(nn.Module):
    """A classifier whose two class scores are always equal (like two label names with one embedding)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.label = nn.Parameter(torch.randn(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.proj(x) @ self.label
        return torch.stack([score, score], dim=1)


def test_identical_class_scores_raise_before_any_update() -> None:
    model = Identical()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)  # weight decay would move even zero-grad weights
    with pytest.raises(TrainingError, match=r"exactly zero for all 3 .*loss 0\.693147.*represented identically"):
        fit(model, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), _data(), optimizer, progress=False)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_a_loss_without_graph_raises_a_training_error() -> None:
    model = nn.Linear(3, 2)

    def detached(m: nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(m(b[0]), b[1]).detach()

    with pytest.raises(TrainingError, match="without a gradient graph at step 1"):
        fit(model, detached, _data(), torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


def test_parameters_outside_the_loss_raise() -> None:
    model = nn.Linear(3, 2)
    other = nn.Linear(3, 2)  # the optimizer trains `other`, the loss only uses `model`
    with pytest.raises(TrainingError, match=r"2 without any gradient"):
        step = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1])  # noqa: E731
        fit(model, step, _data(), torch.optim.SGD(other.parameters(), lr=0.1), progress=False)


def test_a_normal_run_is_not_refused_and_only_the_first_step_is_checked() -> None:
    model = nn.Linear(3, 2)
    seen: list[float] = []

    def step(m: nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        loss = nn.functional.cross_entropy(m(b[0]), b[1])
        seen.append(float(loss.detach()))
        return loss if len(seen) == 1 else loss * 0.0  # later zero-gradient steps are legitimate (e.g. a converged term)

    result = fit(model, step, _data(), torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert result.steps == 4
