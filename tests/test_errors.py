"""Bad input raises the right error, naming what was expected and what was got."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import hypernet as hn

from .conftest import make_mlp


def emb_model() -> hn.HyperModel:
    return hn.HyperModel(make_mlp(), condition=hn.Embedding(5, 8), generator="mlp")


def cont_model() -> hn.HyperModel:
    return hn.HyperModel(make_mlp(), condition=hn.Continuous(2, 8), generator="mlp")


def set_model() -> hn.HyperModel:
    return hn.HyperModel(make_mlp(), condition=hn.SetEncoder(6, 3, 8), generator="mlp")


def static_model() -> hn.HyperModel:
    return hn.HyperModel(make_mlp(), condition=hn.Static(8), generator="mlp")


def noise_model() -> hn.HyperModel:
    return hn.HyperModel(make_mlp(), condition=hn.Noise(4), generator="mlp")


X = torch.randn(4, 6)

CALL_CASES: list[tuple[str, Callable[[], hn.HyperModel], Callable[[hn.HyperModel], Any], str]] = [
    ("float task id", emb_model, lambda m: m(X, 1.5), "task id"),
    ("out-of-range id", emb_model, lambda m: m(X, 5), r"\[0, 5\)"),
    ("negative id", emb_model, lambda m: m(X, torch.tensor([0, -1, 0, 0])), "got -1"),
    ("float id tensor", emb_model, lambda m: m(X, torch.tensor([0.0, 1.0, 0.0, 1.0])), "integer"),
    ("2-d ids", emb_model, lambda m: m(X, torch.zeros(4, 1, dtype=torch.long)), "0-d or 1-d"),
    ("empty ids", emb_model, lambda m: m(X, torch.zeros(0, dtype=torch.long)), "0 samples"),
    ("ids not matching batch", emb_model, lambda m: m(X, torch.tensor([0, 1, 2])), "4 samples|3 samples"),
    ("missing task id", emb_model, lambda m: m(X), "task id"),
    ("bool task id", emb_model, lambda m: m(X, True), "task id"),
    ("meta-device ids", emb_model, lambda m: m(X, torch.tensor([0, 1, 0, 1], device="meta")), "device"),
    ("int continuous", cont_model, lambda m: m(X, torch.tensor([1, 2])), "floating-point"),
    ("wrong continuous width", cont_model, lambda m: m(X, torch.rand(3)), r"\(2,\)"),
    ("NaN continuous", cont_model, lambda m: m(X, torch.tensor([0.1, float("nan")])), "NaN"),
    ("inf continuous", cont_model, lambda m: m(X, torch.tensor([[0.1, float("inf")]] * 4)), "NaN or inf"),
    ("3-d continuous", cont_model, lambda m: m(X, torch.rand(4, 1, 2)), "shape"),
    ("list as continuous", cont_model, lambda m: m(X, [0.1, 0.2]), "continuous vector"),
    ("empty support set", set_model, lambda m: m(X, (torch.zeros(0, 6), torch.zeros(0, dtype=torch.long))), "non-empty"),
    ("label out of range", set_model, lambda m: m(X, (torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 0]))), r"\[0, 3\)"),
    ("float labels", set_model, lambda m: m(X, (torch.randn(5, 6), torch.rand(5))), "integer"),
    ("support X wrong width", set_model, lambda m: m(X, (torch.randn(5, 4), torch.zeros(5, dtype=torch.long))), r"\(N, 6\)"),
    ("support set not a pair", set_model, lambda m: m(X, torch.randn(5, 6)), r"\(X, y\)"),
    ("NaN in support set", set_model, lambda m: m(X, (torch.full((2, 6), float("nan")), torch.tensor([0, 1]))), "finite"),
    (
        "grouped sets, x not grouped",
        set_model,
        lambda m: m(X, (torch.randn(3, 5, 6), torch.zeros(3, 5, dtype=torch.long))),
        "leading dim of 3",
    ),
    ("condition for a static model", static_model, lambda m: m(X, 3), "cond=None"),
    ("samples without noise", emb_model, lambda m: m(X, 1, samples=3), "Noise"),
    ("zero samples", noise_model, lambda m: m(X, None, samples=0), "positive int"),
    ("draws of wrong width", noise_model, lambda m: m(X, torch.randn(3, 5)), r"\(K, 4\)"),
    ("materialize with several conditions", emb_model, lambda m: m.materialize(torch.tensor([0, 1])), "single condition"),
]


@pytest.mark.parametrize(("label", "factory", "call", "match"), CALL_CASES, ids=[c[0] for c in CALL_CASES])
def test_bad_condition_raises_condition_error(
    label: str, factory: Callable[[], hn.HyperModel], call: Callable[[hn.HyperModel], Any], match: str
) -> None:
    model = factory()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(hn.ConditionError, match=match) as info:
        call(model)
    message = str(info.value)
    assert "expected" in message and "got" in message, message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


CONFIG_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("glob matching nothing", lambda: hn.HyperModel(make_mlp(), generate=["9.*"]), "'9.*'"),
    ("empty glob list", lambda: hn.HyperModel(make_mlp(), generate=[]), "at least one glob"),
    ("predicate selecting nothing", lambda: hn.HyperModel(make_mlp(), generate=lambda n, p: False), "at least one"),
    ("target without parameters", lambda: hn.HyperModel(nn.ReLU()), "with none"),
    ("not a module", lambda: hn.HyperModel("resnet"), "nn.Module"),  # type: ignore[arg-type]
    ("unknown generator", lambda: hn.HyperModel(make_mlp(), generator="giant"), "chunked"),
    ("unknown generator by create", lambda: hn.create_generator("nope"), "lowrank"),
    ("bad generator kwargs", lambda: hn.create_generator("chunked", size=3), "chunked"),
    ("negative chunk size", lambda: hn.create_generator("chunked", chunk_size=-4), "positive int"),
    ("negative hidden", lambda: hn.create_generator("mlp", hidden=(-1,)), "positive ints"),
    ("zero rank", lambda: hn.create_generator("lowrank", rank=0), "positive int"),
    ("negative embedding size", lambda: hn.Embedding(num=3, dim=-2), "positive int"),
    ("zero tasks", lambda: hn.Embedding(num=0, dim=4), "positive int"),
    ("negative fourier", lambda: hn.Continuous(2, 4, fourier=-1), ">= 0"),
    ("unknown encoding", lambda: hn.Continuous(2, 4, encoding="log"), "encoding"),  # type: ignore[arg-type]
    ("unknown init", lambda: hn.HyperModel(make_mlp(), init="xavier"), "hyperfan"),
    ("unknown parametrization", lambda: hn.HyperModel(make_mlp(), parametrization="additive"), "residual"),  # type: ignore[arg-type]
    ("mip with direct", lambda: hn.HyperModel(make_mlp(), init="mip", parametrization="direct"), "residual"),
    ("condition of wrong type", lambda: hn.HyperModel(make_mlp(), condition=nn.Linear(2, 2)), "hn.Condition"),  # type: ignore[arg-type]
    ("negative batch dim", lambda: hn.HyperModel(make_mlp(), batch_dim=-1), "batch_dim"),
    ("bad per_sample", lambda: hn.HyperModel(make_mlp(), per_sample="fast"), "per_sample"),  # type: ignore[arg-type]
    ("zero sets per block", lambda: hn.HyperModel(make_mlp(), sets_per_block=0), "sets_per_block"),
]


@pytest.mark.parametrize(("label", "make", "match"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configuration_raises_config_error(label: str, make: Callable[[], Any], match: str) -> None:
    with pytest.raises(hn.ConfigError, match=match) as info:
        make()
    assert "expected" in str(info.value), str(info.value)


def test_generator_bound_twice_is_refused() -> None:
    gen = hn.create_generator("mlp")
    hn.HyperModel(make_mlp(), generator=gen)
    with pytest.raises(hn.ConfigError, match="unbound"):
        hn.HyperModel(make_mlp(), generator=gen)


def test_unbound_generator_explains_itself() -> None:
    with pytest.raises(hn.ConfigError, match="bound to a target, got it unbound"):
        hn.create_generator("chunked").spec  # noqa: B018


def test_error_hierarchy() -> None:
    for err in (hn.ConditionError, hn.ConfigError, hn.CheckpointError):
        assert issubclass(err, hn.HypernetError) and issubclass(err, ValueError)


def test_x_on_wrong_device_is_reported() -> None:
    with pytest.raises(hn.HypernetError, match="device"):
        emb_model()(torch.randn(4, 6, device="meta"), 1)
