"""Initialisation: hyperfan gives generated weights the scale of a standard init at step 0."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

import hypernet as hn

from .conftest import TARGETS


def _default_std(factory: Callable[[], nn.Module], name: str) -> float:
    """Std of PyTorch's default init for this parameter, averaged over fresh instances."""
    return sum(float(factory().get_parameter(name).detach().std()) for _ in range(5)) / 5


@pytest.mark.parametrize("target_name", ["mlp", "cnn", "gru", "transformer"])
def test_hyperfan_std_within_half_to_twice_default(target_name: str, generator_name: str) -> None:
    """Hyperfan sets the variance over conditions: the pooled std over 16 conditions is checked.

    A single condition's std scatters around it (a random embedding meets a random
    generator); the median over conditions is checked too.
    """
    factory, _ = TARGETS[target_name]
    target = factory()
    model = hn.HyperModel(target, condition=hn.Embedding(16, 8), generator=generator_name, init="hyperfan")
    with torch.no_grad():
        weights = model.generate(torch.arange(16))
    for t in model.spec.tensors:
        if not t.is_matrix:
            continue
        default = _default_std(factory, t.name)
        pooled = float(weights[t.name].std()) / default
        median = float(weights[t.name].flatten(1).std(dim=1).median()) / default
        assert 0.5 <= pooled <= 2.0, f"{generator_name} {t.name}: pooled std ratio {pooled:.2f}"
        assert 0.5 <= median <= 2.0, f"{generator_name} {t.name}: median std ratio {median:.2f}"


def test_init_default_leaves_pytorch_init() -> None:
    model = hn.HyperModel(nn.Linear(10, 10), condition=hn.Embedding(2, 4), generator="mlp", init="default")
    assert torch.equal(model.scale, torch.ones_like(model.scale))
    assert torch.equal(model.base, torch.zeros_like(model.base))


def test_mip_refuses_to_rebuild_a_non_mip_condition() -> None:
    cond = hn.Continuous(1, 8)
    before = {k: v.clone() for k, v in cond.state_dict().items()}
    with pytest.raises(hn.ConfigError, match="encoding='mip'"):
        hn.HyperModel(nn.Linear(10, 3), condition=cond, generator="mlp", init="mip")
    assert cond.encoding == "identity"
    after = cond.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_mip_is_residual_with_mip_encoding() -> None:
    cond = hn.Continuous(1, 8, encoding="mip")
    model = hn.HyperModel(nn.Linear(10, 3), condition=cond, generator="mlp", init="mip")
    assert model.parametrization == "residual" and cond.encoding == "mip"
    assert isinstance(model.base, nn.Parameter)
    torch.testing.assert_close(model.spec.unflatten(model.base)["weight"], model.target.weight)
    delta = model.generate(torch.tensor([0.3]))["weight"].detach() - model.target.weight
    assert 0 < float(delta.std()) < float(model.target.weight.std()) * 2


def test_hyperfan_out_uses_fan_out() -> None:
    target = nn.Linear(100, 4, bias=False)
    fan_in = hn.HyperModel(target, condition=hn.Embedding(2, 8), generator="mlp")
    fan_out = hn.HyperModel(nn.Linear(100, 4, bias=False), condition=hn.Embedding(2, 8), generator="mlp", init="hyperfan_out")
    assert math.isclose(float(fan_in.scale[0]), 0.1, rel_tol=1e-6)
    assert math.isclose(float(fan_out.scale[0]), 0.5, rel_tol=1e-6)


def test_norm_gains_start_near_one() -> None:
    target = nn.Sequential(nn.Linear(4, 64), nn.LayerNorm(64))
    model = hn.HyperModel(target, condition=hn.Embedding(2, 8), generator="layerwise")
    with torch.no_grad():
        gain = model.generate(0)["1.weight"]
    assert abs(float(gain.mean()) - 1.0) < 0.1 and 0.05 < float(gain.std()) < 0.3


@pytest.mark.parametrize("generator_name", ["mlp", "chunked"])
def test_a_one_unit_bias_starts_at_pytorchs_bias_scale(generator_name: str) -> None:
    """A value / regression head's one-element bias: its sample has no std, so its scale is PyTorch's bias std.

    Before, the std fell back to 1 (``1/sqrt(numel)``): the generated bias of ``Linear(256, 1)`` started about
    28x PyTorch's bias init, and a generated policy's action started far from zero.
    """
    target = nn.Sequential(nn.Linear(3, 256), nn.Tanh(), nn.Linear(256, 1))
    model = hn.HyperModel(target, condition=hn.Embedding(64, 8), generator=generator_name, init="hyperfan")
    spec = {t.name: t for t in model.spec.tensors}
    assert spec["2.bias"].init_mean == 0.0
    assert spec["2.bias"].init_std == pytest.approx(1 / math.sqrt(3 * 256))
    assert spec["0.bias"].init_std == pytest.approx(1 / math.sqrt(3 * 3))  # PyTorch's, not the sample's
    with torch.no_grad():
        bias = model.generate(torch.arange(64))["2.bias"]
    default = 1 / math.sqrt(3 * 256)
    assert 0.3 * default <= float(bias.std()) <= 3 * default
    assert float(bias.abs().max()) <= 6 * default
