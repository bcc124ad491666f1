"""generate() and materialize() export plain weights and plain modules."""

from __future__ import annotations

import torch
from torch import nn

import hypernet as hn

from .conftest import build


def test_materialize_equals_model_and_is_independent(target_name: str, generator_name: str) -> None:
    model, inputs = build(target_name, generator_name)
    model.eval()
    x = inputs(5)
    net = model.materialize(3)
    assert type(net) is type(model.target) and net is not model.target
    torch.testing.assert_close(net(x), model(x, 3), atol=1e-6, rtol=0)
    before = model(x, 3).detach().clone()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    torch.testing.assert_close(model(x, 3), before)
    assert all(p.requires_grad for p in net.parameters())
    shared = {id(p) for p in model.parameters()} | {id(b) for b in model.buffers()}
    assert not any(id(t) in shared for t in [*net.parameters(), *net.buffers()])


def test_generate_returns_full_parameter_dict() -> None:
    model, _ = build("mlp", generate=["0.*"])
    weights = model.generate(2)
    assert list(weights) == [n for n, _ in model.target.named_parameters()]
    assert weights["2.weight"] is model.target.get_parameter("2.weight")
    assert weights["0.weight"].shape == model.target.get_parameter("0.weight").shape
    per_sample = model.generate(torch.tensor([0, 1, 0]))
    assert per_sample["0.weight"].shape == (3, 16, 6)
    torch.testing.assert_close(per_sample["0.weight"][0], per_sample["0.weight"][2])
    torch.testing.assert_close(per_sample["0.weight"][1], model.generate(1)["0.weight"])


def test_partial_generation_keeps_the_rest_trainable() -> None:
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model = hn.HyperModel(target, condition=hn.Embedding(3, 4), generator="mlp", generate=["0.*", "2.weight"])
    assert model.spec.names == ("0.weight", "0.bias", "2.weight")
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "target.2.bias" in names and "target.0.weight" not in names
    pred = hn.HyperModel(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), generate=lambda n, p: p.dim() == 2)
    assert pred.spec.names == ("0.weight", "2.weight")


def test_compression_counts_hypernetwork_parameters() -> None:
    model, _ = build("mlp", "chunked")
    hyper = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not n.startswith("target."))
    assert model.compression == hyper / model.spec.numel
    assert model.spec.numel == sum(p.numel() for p in model.target.parameters())
