"""deepcopy, state_dict round trips and weights_only-compatible saving."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

import hypernet as hn

from .conftest import TARGETS, build, small_generator


def test_deepcopy_is_independent(generator_name: str) -> None:
    model, inputs = build("cnn", generator_name)
    model.eval()
    twin = copy.deepcopy(model)
    x = inputs(3)
    torch.testing.assert_close(twin(x, 2), model(x, 2))
    with torch.no_grad():
        for p in twin.generator.parameters():
            p.add_(0.5)
    assert not torch.allclose(twin(x, 2), model(x, 2))


def test_state_dict_round_trip_with_weights_only(tmp_path: Path, target_name: str, generator_name: str) -> None:
    model, inputs = build(target_name, generator_name)
    model.eval()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    state = torch.load(path, weights_only=True)
    torch.manual_seed(123)
    fresh = hn.HyperModel(TARGETS[target_name][0](), condition=hn.Embedding(5, 8), generator=small_generator(generator_name)).eval()
    x = inputs(4)
    assert not torch.allclose(fresh(x, 1), model(x, 1))
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(x, 1), model(x, 1))
    torch.testing.assert_close(fresh(x, torch.tensor([0, 1, 2, 3])), model(x, torch.tensor([0, 1, 2, 3])))


def test_state_dict_holds_only_tensors() -> None:
    model, _ = build("mlp", "lowrank")
    assert all(isinstance(v, torch.Tensor) for v in model.state_dict().values())
    assert "base" in model.state_dict() and "scale" in model.state_dict()
