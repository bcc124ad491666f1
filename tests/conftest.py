"""Shared targets and helpers: every test runs on an MLP, a CNN with BatchNorm, a GRU model and a Transformer layer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import hypernet as hn


class GRUClassifier(nn.Module):
    """A GRU over a sequence, then a linear head on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size=3, hidden_size=8, batch_first=True)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1])


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def make_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def make_transformer() -> nn.Module:
    return nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)


TARGETS: dict[str, tuple[Callable[[], nn.Module], Callable[[int], torch.Tensor]]] = {
    "mlp": (make_mlp, lambda b: torch.randn(b, 6)),
    "cnn": (make_cnn, lambda b: torch.randn(b, 1, 6, 6)),
    "gru": (GRUClassifier, lambda b: torch.randn(b, 5, 3)),
    "transformer": (make_transformer, lambda b: torch.randn(b, 4, 8)),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(params=sorted(TARGETS))
def target_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=hn.list_generators())
def generator_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def small_generator(name: str) -> hn.Generator:
    """Small settings so every registered generator runs fast on the test targets."""
    kwargs = {"chunked": {"chunk_size": 37, "hidden": (16,)}, "layerwise": {"hidden": (8,)}, "lowrank": {"rank": 2, "hidden": (16,)}}
    kwargs["shared"] = {"layer_dim": 4, "hidden": (8,)}
    kwargs["ha"] = {"block_size": 8, "block_dim": 3}
    return hn.create_generator(name, **kwargs.get(name, {"hidden": (16,)}))


def build(target_name: str, generator: str = "chunked", num: int = 5, **kw: object) -> tuple[hn.HyperModel, Callable[[int], torch.Tensor]]:
    factory, inputs = TARGETS[target_name]
    model = hn.HyperModel(factory(), condition=hn.Embedding(num=num, dim=8), generator=small_generator(generator), **kw)  # type: ignore[arg-type]
    return model, inputs


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
