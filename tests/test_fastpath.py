"""The fast paths (grouped vmap, blocks, transposed Linear storage) against hand-written references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hypernet as hn


def _bmm_reference(weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """784-style MLP by hand with per-sample weights from generate(): one bmm per layer."""
    h = x.unsqueeze(1)
    for i, layer in enumerate((0, 2, 4)):
        h = torch.baddbmm(weights[f"{layer}.bias"].unsqueeze(1), h, weights[f"{layer}.weight"].transpose(1, 2))
        if i < 2:
            h = F.relu(h)
    return h.squeeze(1)


@pytest.mark.parametrize("sets_per_block", [None, 3])
@pytest.mark.parametrize("generator", ["chunked", "mlp", "lowrank"])
def test_per_sample_path_equals_bmm_reference_with_gradients(generator: str, sets_per_block: int | None) -> None:
    target = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    model = hn.HyperModel(target, condition=hn.Embedding(10, 8), generator=generator, sets_per_block=sets_per_block)
    x, ids, y = torch.randn(20, 12), torch.randint(0, 10, (20,)), torch.randint(0, 4, (20,))
    params = [p for p in model.parameters() if p.requires_grad]
    ours = model(x, ids)
    grads = torch.autograd.grad(F.cross_entropy(ours, y), params)
    reference = _bmm_reference(model.generate(ids), x)
    ref_grads = torch.autograd.grad(F.cross_entropy(reference, y), params)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_linear_weights_are_stored_transposed_but_exported_as_pytorch_expects() -> None:
    target = nn.Sequential(nn.Linear(5, 3), nn.Conv1d(1, 2, 3))
    spec = hn.ParamSpec.from_module(target)
    by_name = {t.name: t for t in spec.tensors}
    assert by_name["0.weight"].transposed and by_name["0.weight"].storage_shape == (5, 3)
    assert not by_name["1.weight"].transposed
    flat = torch.arange(float(spec.numel))
    views = spec.unflatten(flat)
    assert views["0.weight"].shape == (3, 5)
    torch.testing.assert_close(spec.flatten(views), flat)
    torch.testing.assert_close(views["0.weight"], flat[:15].view(5, 3).T)


def test_one_set_call_swaps_exactly_like_functional_call_and_puts_the_parameters_back() -> None:
    target = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    model = hn.HyperModel(target, condition=hn.Embedding(4, 8), generator="chunked", generate=["0.*"])
    own = [id(p) for p in target.parameters()]
    x = torch.randn(7, 6)
    expected = torch.func.functional_call(target, model.generate(2), (x,))
    out = model(x, 2)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), [model.condition.table, target[2].weight])
    ref = torch.autograd.grad(expected.square().sum(), [model.condition.table, target[2].weight])
    for a, b in zip(grads, ref, strict=True):
        torch.testing.assert_close(a, b)
    assert [id(p) for p in target.parameters()] == own and all(isinstance(p, nn.Parameter) for p in target.parameters())
    with pytest.raises(RuntimeError):
        model(torch.randn(7, 4), 2)  # the target raises while the generated tensors are in place
    assert [id(p) for p in target.parameters()] == own and all(isinstance(p, nn.Parameter) for p in target.parameters())


def test_tied_weights_still_go_through_functional_call() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)
            self.b.weight = self.a.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.relu(self.a(x)))

    target = Tied()
    model = hn.HyperModel(target, condition=hn.Embedding(2, 4), generator="mlp")
    x = torch.randn(3, 4)
    w = model.generate(1)
    expected = F.linear(torch.relu(F.linear(x, w["a.weight"], w["a.bias"])), w["a.weight"], w["b.bias"])
    torch.testing.assert_close(model(x, 1), expected)
    assert target.b.weight is target.a.weight
