"""With generated weights equal to the target's own, the model is the target."""

from __future__ import annotations

import copy

import pytest
import torch

from .conftest import TARGETS, build


@pytest.mark.parametrize("parametrization", ["direct", "residual"])
def test_model_equals_target_when_generating_its_weights(target_name: str, generator_name: str, parametrization: str) -> None:
    model, inputs = build(target_name, generator_name, parametrization=parametrization)
    model.reset_to_target_().eval()
    x = inputs(7)
    expected = model.target(x)
    torch.testing.assert_close(model(x, 2), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(model(x, torch.tensor([0, 1, 2, 3, 4, 0, 1])), expected, atol=1e-6, rtol=0)


def test_parity_in_training_mode_updates_the_same_buffers(target_name: str) -> None:
    model, inputs = build(target_name)
    model.reset_to_target_().train()
    reference = copy.deepcopy(model.target)
    x = inputs(8)
    torch.testing.assert_close(model(x, 1), reference(x), atol=1e-6, rtol=0)
    for (name, mine), (_, ref) in zip(model.target.named_buffers(), reference.named_buffers(), strict=True):
        torch.testing.assert_close(mine, ref, msg=f"buffer {name} differs from plain PyTorch")


def test_generated_weights_are_actually_used() -> None:
    model, inputs = build("mlp")
    x = inputs(4)
    assert not torch.allclose(model(x, 0), model.target(x))
    assert not torch.allclose(model(x, 0), model(x, 1))


def test_all_targets_covered() -> None:
    assert set(TARGETS) == {"mlp", "cnn", "gru", "transformer"}
