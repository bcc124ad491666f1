"""per_sample='linear': generated linear layers apply each sample's weights in one batched call of the target."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

import hypernet as hn

from .foreign.models import bert, peft

IDS = torch.tensor([2, 0, 2, 1, 0])


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 2))


def pair(target: nn.Module, generate: Any = "all", **kw: Any) -> tuple[hn.HyperModel, hn.HyperModel]:
    """The same model (same weights) with the linear path and with vmap."""
    torch.manual_seed(1)
    fast = hn.HyperModel(target, condition=hn.Embedding(3, 4), generator="mlp", generate=generate, per_sample="linear", **kw)
    with torch.no_grad():
        for p in fast.generator.parameters():
            p.add_(0.3 * torch.randn_like(p))
    slow = hn.HyperModel(copy.deepcopy(target), condition=hn.Embedding(3, 4), generator="mlp", generate=generate, per_sample="vmap", **kw)
    slow.load_state_dict(fast.state_dict())
    return fast, slow


def grads(model: hn.HyperModel) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("generate", ["all", "*.weight", "*.bias", ["2.*"]])
def test_linear_path_equals_vmap_with_gradients(generate: Any) -> None:
    fast, slow = pair(mlp(), generate)
    x = torch.randn(5, 3, dtype=torch.float32, generator=torch.Generator().manual_seed(2))
    out_fast, out_slow = fast(x, IDS), slow(x, IDS)
    torch.testing.assert_close(out_fast, out_slow, atol=1e-6, rtol=1e-5)
    out_fast.square().sum().backward()
    out_slow.square().sum().backward()
    g_fast, g_slow = grads(fast), grads(slow)
    assert g_fast.keys() == g_slow.keys() and g_fast
    for name in g_fast:
        torch.testing.assert_close(g_fast[name], g_slow[name], atol=1e-6, rtol=1e-5, msg=name)


def test_linear_path_on_inputs_with_more_dims_equals_each_sample_alone() -> None:
    fast, _ = pair(mlp())
    x = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(3))  # (batch, tokens, features)
    out = fast(x, IDS)
    for i, task in enumerate(IDS.tolist()):
        torch.testing.assert_close(out[i], fast(x[i], task), atol=1e-6, rtol=1e-5)


def test_linear_path_gradcheck_float64() -> None:
    fast, _ = pair(mlp().double())
    fast.double()
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: fast(x, IDS), (x,))


def test_peft_lora_bert_with_padding_equals_vmap() -> None:
    config = peft.LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"], lora_dropout=0.0)
    torch.manual_seed(0)
    target = peft.get_peft_model(bert(), config).eval()
    fast, slow = pair(target, "*lora_*")
    gen = torch.Generator().manual_seed(1)
    mask = torch.ones(5, 6, dtype=torch.long)
    mask[1, 3:] = 0
    mask[4, 5:] = 0
    batch = {"input_ids": torch.randint(0, 60, (5, 6), generator=gen), "attention_mask": mask}
    out_fast, out_slow = fast(batch, IDS).last_hidden_state, slow(batch, IDS).last_hidden_state
    torch.testing.assert_close(out_fast, out_slow, atol=1e-5, rtol=1e-5)
    out_fast.sum().backward()
    out_slow.sum().backward()
    g_fast, g_slow = grads(fast), grads(slow)
    for name in g_fast:
        torch.testing.assert_close(g_fast[name], g_slow[name], atol=1e-5, rtol=1e-4, msg=name)


def test_the_target_is_left_as_it_was_after_a_call() -> None:
    fast, _ = pair(mlp())
    layer = fast.target[0]
    own = layer.weight
    fast(torch.randn(5, 3), IDS)
    assert layer.weight is own and "forward" not in vars(layer)


class ReadsWeight(nn.Module):
    """Uses its layer's weight directly, besides calling the layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + x @ self.fc.weight


class Transposes(nn.Module):
    """Calls its layer on an input whose first dim is not the batch (the features, here 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.T).T


@pytest.mark.parametrize("target", [ReadsWeight, Transposes])
def test_a_target_the_linear_path_cannot_serve_raises_and_is_left_unchanged(target: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = hn.HyperModel(target(), condition=hn.Embedding(3, 4), generator="mlp", per_sample="linear")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(hn.ConfigError, match="per_sample='auto'"):
        model(torch.randn(5, 3), IDS)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(model.target.fc.weight, nn.Parameter) and "forward" not in vars(model.target.fc)


def test_the_default_vmap_path_serves_a_target_that_reads_its_weights() -> None:
    torch.manual_seed(0)
    auto = hn.HyperModel(ReadsWeight(), condition=hn.Embedding(3, 4), generator="mlp")
    x = torch.randn(5, 3)
    out = auto(x, IDS)
    for i, task in enumerate(IDS.tolist()):
        torch.testing.assert_close(out[i], auto(x[i : i + 1], task)[0], atol=1e-6, rtol=1e-5)


def test_linear_needs_only_linear_layers_generated() -> None:
    net = nn.Sequential(nn.Conv1d(2, 2, 3), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(hn.ConfigError, match=r"nn\.Linear"):
        hn.HyperModel(net, condition=hn.Embedding(3, 4), per_sample="linear")
    with pytest.raises(hn.ConfigError, match="batch_dim=0"):
        hn.HyperModel(mlp(), condition=hn.Embedding(3, 4), per_sample="linear", batch_dim=1)
    hn.HyperModel(net, condition=hn.Embedding(3, 4), per_sample="linear", generate="2.*")  # only the Linear: fine


def test_applied_runs_the_target_itself_with_per_sample_or_single_weights() -> None:
    fast, _ = pair(mlp())
    x = torch.randn(5, 3)
    with fast.applied(fast.weights(IDS)) as target:
        per_sample = target(x)
    torch.testing.assert_close(per_sample, fast(x, IDS), atol=1e-6, rtol=1e-5)
    with fast.applied(fast.weights(2)) as target:
        single = target(x)
    torch.testing.assert_close(single, fast(x, 2), atol=1e-6, rtol=1e-5)
    plain = fast.target(x)  # restored: the target's own (frozen) weights again
    assert not torch.allclose(plain, single)
    assert all(isinstance(p, nn.Parameter) for p in fast.target.parameters())


def test_applied_refuses_per_sample_weights_without_the_linear_path_and_restores_on_error() -> None:
    torch.manual_seed(0)
    auto = hn.HyperModel(mlp(), condition=hn.Embedding(3, 4), generator="mlp")
    with pytest.raises(hn.ConfigError, match="per_sample='linear'"), auto.applied(auto.weights(IDS)):
        pass
    with pytest.raises(hn.ConditionError, match="GeneratedWeights"), auto.applied("nope"):  # type: ignore[arg-type]
        pass
    fast, _ = pair(mlp())
    own = fast.target[0].weight
    with pytest.raises(KeyError), fast.applied(fast.weights(IDS)):
        raise KeyError("inside the block")
    assert fast.target[0].weight is own and "forward" not in vars(fast.target[0])


def test_a_call_or_a_nested_applied_inside_applied_is_refused_and_leaves_the_model_intact() -> None:
    fast, _ = pair(mlp())
    x = torch.randn(5, 3)
    expected = fast(x, IDS)
    for inner in (lambda: fast(x, IDS), lambda: fast(x, 1), lambda: fast.applied(fast.weights(1)).__enter__()):
        with fast.applied(fast.weights(IDS)) as target:
            with pytest.raises(hn.ConfigError, match="one call of the HyperModel at a time"):
                inner()
            torch.testing.assert_close(target(x), expected, atol=1e-6, rtol=1e-5)  # the block still works
    torch.testing.assert_close(fast(x, IDS), expected)
    assert all(isinstance(p, nn.Parameter) for p in fast.target.parameters()) and fast.state_dict()
    single = hn.HyperModel(mlp(), condition=hn.Embedding(3, 4), generator="mlp")  # the one-set swap is guarded too
    with single.applied(single.weights(1)), pytest.raises(hn.ConfigError, match="at a time"):
        single(x, 2)


def test_a_forward_set_on_the_layer_instance_rules_out_the_linear_path_and_is_kept() -> None:
    net = mlp()
    layer = net[0]
    hooked = layer.forward
    layer.forward = hooked  # as accelerate's hooks do: a forward on the instance
    with pytest.raises(hn.ConfigError, match=r"nn\.Linear"):
        hn.HyperModel(net, condition=hn.Embedding(3, 4), generator="mlp", per_sample="linear")
    assert vars(layer)["forward"] is hooked
