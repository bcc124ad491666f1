"""HyperMoE: equals running each token through its top-k experts one by one; routers; top_k at inference; gradients; errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.moe._dispatch import run_experts


def _reference(layer: hn.HyperMoE, x: torch.Tensor, route: torch.Tensor | None = None) -> torch.Tensor:
    """Each token through its top-k experts, one token and one expert at a time (plain modules)."""
    params = layer.experts.params()
    logits = layer.logits(x if route is None else route)
    out = []
    for n in range(x.shape[0]):
        top, idx = torch.topk(logits[n], layer.top_k)
        gates = torch.softmax(top, 0)
        y = torch.zeros(layer.d_out)
        for g, e in zip(gates, idx.tolist(), strict=True):
            net = copy.deepcopy(layer.experts.template)
            for name, p in net.named_parameters():
                p.data = params[name][e].detach().clone()
            y = y + g * net(x[n : n + 1])[0]
        out.append(y)
    return torch.stack(out)


@pytest.mark.parametrize("dispatch", ["padded", "loop"])
@pytest.mark.parametrize("router", ["learned", "hyper", "embedding"])
def test_hyper_experts_equal_each_token_through_its_top_k_generated_experts(dispatch: str, router: str) -> None:
    torch.manual_seed(0)
    layer = hn.HyperMoE(6, 5, num_experts=4, top_k=2, experts="hyper", router=router, hidden=7, dispatch=dispatch)  # type: ignore[arg-type]
    x = torch.randn(23, 6)
    with torch.no_grad():
        got = layer(x)
        want = _reference(layer, x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert layer.last_experts.shape == (23, 2)


def test_plain_experts_and_leading_dims() -> None:
    torch.manual_seed(1)
    layer = hn.HyperMoE(4, num_experts=3, top_k=2, experts="plain", router="random", hidden=5)
    x = torch.randn(2, 3, 4)
    with torch.no_grad():
        got = layer(x)
        want = _reference(layer, x.reshape(-1, 4)).reshape(2, 3, 4)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # the plain experts start different from each other
    w = layer.experts.params()["0.weight"]
    assert not torch.allclose(w[0], w[1])


def test_padded_and_loop_dispatch_agree_with_a_collapsed_router() -> None:
    torch.manual_seed(2)
    params = {"weight": torch.randn(3, 2, 4), "bias": torch.randn(3, 2)}
    lin = nn.Linear(4, 2)

    def call(p: dict[str, torch.Tensor], rows: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(lin, p, (rows,))
        return out

    x = torch.randn(9, 4)
    idx = torch.zeros(9, 1, dtype=torch.long)  # every token on expert 0
    gates = torch.ones(9, 1)
    a = run_experts(call, params, x, idx, gates, "padded")
    b = run_experts(call, params, x, idx, gates, "loop")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, x @ params["weight"][0].t() + params["bias"][0])


def test_hyper_router_trains_the_embedding_only() -> None:
    torch.manual_seed(3)
    layer = hn.HyperMoE(8, num_experts=4, top_k=2, experts="plain", router="hyper", hidden=8)
    hyper = layer.router.hyper  # type: ignore[union-attr]
    frozen = {k: v.detach().clone() for k, v in hyper.generator.state_dict().items()}
    emb0 = hyper.condition.vector.detach().clone()
    opt = torch.optim.Adam([p for p in layer.parameters() if p.requires_grad], lr=1e-2)
    x, y = torch.randn(32, 8), torch.randn(32, 8)
    gates0 = layer.logits(x).detach()
    for _ in range(5):
        opt.zero_grad()
        loss = (layer(x) - y).pow(2).mean() + 0.1 * layer.balance_loss
        loss.backward()
        opt.step()
    for k, v in hyper.generator.state_dict().items():
        assert torch.equal(v, frozen[k]), k
    assert not torch.allclose(hyper.condition.vector, emb0)
    # the router weights are regenerated from the moved embedding: the logits changed
    assert not torch.allclose(layer.logits(x), gates0)
    assert all(not p.requires_grad for p in hyper.generator.parameters())


@pytest.mark.parametrize(("kw", "dim"), [({}, 8), ({"route_dim": 5}, 5), ({"router_dim": 3}, 3)])
def test_hyper_router_embedding_defaults_to_the_router_input_width(kw: dict[str, int], dim: int) -> None:
    layer = hn.HyperMoE(8, num_experts=4, top_k=2, experts="plain", router="hyper", hidden=8, **kw)  # type: ignore[arg-type]
    assert layer.router.hyper.condition.vector.shape == (1, dim)  # type: ignore[union-attr]
    with pytest.raises(hn.ConfigError, match=r"expected HyperMoE\(router_dim=...\) to be a positive int, got 0"):
        hn.HyperMoE(8, num_experts=4, router="hyper", router_dim=0)


def test_random_router_stays_frozen_and_learned_router_trains() -> None:
    torch.manual_seed(4)
    for router, moves in (("random", False), ("learned", True)):
        layer = hn.HyperMoE(4, num_experts=3, top_k=2, experts="plain", router=router, hidden=4)  # type: ignore[arg-type]
        w0 = layer.router.gate.weight.detach().clone()  # type: ignore[union-attr]
        params = [p for p in layer.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.5)
        out = layer(torch.randn(16, 4))
        (out.pow(2).mean() + layer.balance_loss).backward()
        opt.step()
        assert torch.equal(layer.router.gate.weight, w0) != moves  # type: ignore[union-attr]


def test_lowering_top_k_at_inference_changes_nothing_else() -> None:
    torch.manual_seed(5)
    layer = hn.HyperMoE(6, num_experts=5, top_k=3, experts="hyper", router="learned", hidden=6)
    x = torch.randn(11, 6)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    with torch.no_grad():
        logits = layer.logits(x)
        layer.top_k = 1
        got = layer(x)
    assert {k: v for k, v in layer.state_dict().items()}.keys() == state.keys()
    for k, v in layer.state_dict().items():
        assert torch.equal(v, state[k]), k
    with torch.no_grad():
        torch.testing.assert_close(layer.logits(x), logits)  # the router is untouched
        torch.testing.assert_close(got, _reference(layer, x), atol=1e-5, rtol=1e-5)
        # top-1: each token's output is exactly its best expert's output
        assert torch.equal(layer.last_experts[:, 0], logits.argmax(1))
    layer.top_k = 3
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _reference(layer, x), atol=1e-5, rtol=1e-5)


def test_gradients_reach_expert_embeddings_only_through_selected_experts() -> None:
    torch.manual_seed(6)
    layer = hn.HyperMoE(6, num_experts=6, top_k=1, experts="hyper", router="learned", hidden=5, dispatch="padded")
    x = torch.randn(4, 6)  # 4 tokens, top-1: at most 4 of the 6 experts selected
    out = layer(x)
    out.pow(2).sum().backward()
    table = layer.experts.hyper.condition.table  # type: ignore[union-attr]
    assert table.grad is not None
    chosen = set(layer.last_experts.reshape(-1).tolist())
    assert len(chosen) < 6
    for e in range(6):
        norm = float(table.grad[e].abs().sum())
        if e in chosen:
            assert norm > 0, e
        else:
            assert norm == 0.0, e


def test_balance_loss_is_one_when_balanced_and_larger_when_collapsed() -> None:
    layer = hn.HyperMoE(2, num_experts=2, top_k=1, experts="plain", router="learned", hidden=2)
    with torch.no_grad():
        layer.router.gate.weight.copy_(torch.tensor([[10.0, 0.0], [-10.0, 0.0]]))  # type: ignore[union-attr]
        layer.router.gate.bias.zero_()  # type: ignore[union-attr]
    layer(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    assert abs(float(layer.balance_loss.detach()) - 1.0) < 1e-3
    layer(torch.tensor([[1.0, 0.0], [2.0, 0.0]]))
    assert float(layer.balance_loss.detach()) > 1.9


def test_bad_input_raises_config_error_and_leaves_the_layer_unchanged() -> None:
    with pytest.raises(hn.ConfigError, match=r"expected top_k <= num_experts \(4\), got top_k=5; lower top_k"):
        hn.HyperMoE(8, num_experts=4, top_k=5)
    with pytest.raises(
        hn.ConfigError, match=r"expected HyperMoE\(num_experts=...\) to be a positive int, got 0; a mixture needs at least one expert"
    ):
        hn.HyperMoE(8, num_experts=0, top_k=1)
    with pytest.raises(hn.ConfigError, match="expected experts='hyper' with router='embedding'"):
        hn.HyperMoE(8, num_experts=2, top_k=1, experts="plain", router="embedding")
    layer = hn.HyperMoE(8, num_experts=4, top_k=2, hidden=4)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    with pytest.raises(
        hn.ConfigError, match=r"expected tokens of shape \(\.\.\., 8\) \(d_in=8\), got Tensor\(shape=\(3, 7\).*pass tokens of width 8"
    ):
        layer(torch.randn(3, 7))
    with pytest.raises(hn.ConfigError, match=r"expected top_k <= num_experts \(4\), got top_k=9"):
        layer.top_k = 9
    with pytest.raises(hn.ConfigError, match=r"expected HyperMoE\(top_k=...\) to be a positive int, got 0"):
        layer.top_k = 0
    assert layer.top_k == 2
    for k, v in layer.state_dict().items():
        assert torch.equal(v, state[k])


def test_every_trainable_parameter_gets_a_gradient() -> None:
    torch.manual_seed(7)
    for experts, router in (("hyper", "embedding"), ("hyper", "hyper"), ("plain", "learned")):
        layer = hn.HyperMoE(5, num_experts=3, top_k=3, experts=experts, router=router, hidden=4)  # type: ignore[arg-type]
        (layer(torch.randn(12, 5)).pow(2).mean() + layer.balance_loss).backward()
        for name, p in layer.named_parameters():
            if p.requires_grad:
                assert p.grad is not None and bool(p.grad.abs().sum() > 0), (experts, router, name)


def test_empty_batch() -> None:
    layer = hn.HyperMoE(4, num_experts=2, top_k=1, hidden=3)
    assert layer(torch.zeros(0, 4)).shape == (0, 4)


@pytest.mark.parametrize("experts,router", [("hyper", "embedding"), ("hyper", "hyper"), ("plain", "random"), ("hyper", "learned")])
def test_materialize_gives_a_plain_layer_with_the_same_outputs(experts: str, router: str) -> None:
    torch.manual_seed(8)
    layer = hn.HyperMoE(6, 4, num_experts=5, top_k=2, experts=experts, router=router, hidden=7)  # type: ignore[arg-type]
    x = torch.randn(17, 6)
    plain = layer.materialize()
    assert plain.experts_kind == "plain" and plain.router_kind == "learned"
    assert not any(n.startswith("experts.hyper") for n, _ in plain.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(plain(x), layer(x), atol=1e-5, rtol=1e-5)
    assert torch.equal(plain.last_experts, layer.last_experts)


def test_copy_after_a_training_call() -> None:
    torch.manual_seed(9)
    layer = hn.HyperMoE(4, num_experts=3, top_k=2, hidden=4)
    layer(torch.randn(5, 4)).sum().backward()  # balance_loss now holds a graph
    twin = copy.deepcopy(layer)
    assert not twin.balance_loss.requires_grad and layer.balance_loss.requires_grad
    x = torch.randn(6, 4)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), layer(x))


@pytest.mark.parametrize("experts,router", [("hyper", "embedding"), ("plain", "learned"), ("hyper", "hyper")])
def test_route_input_chooses_the_experts_and_the_tokens_run_through_them(experts: str, router: str) -> None:
    torch.manual_seed(10)
    layer = hn.HyperMoE(6, 4, num_experts=5, top_k=2, experts=experts, router=router, hidden=7, route_dim=3)  # type: ignore[arg-type]
    x, r = torch.randn(11, 6), torch.randn(11, 3)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, route=r), _reference(layer, x, r), atol=1e-5, rtol=1e-5)
        chosen = layer.last_experts.clone()
        layer(torch.randn(11, 6), route=r)  # other tokens, same routing input: same experts
        assert torch.equal(layer.last_experts, chosen)
        layer(x, route=torch.randn(11, 3))
        assert not torch.equal(layer.last_experts, chosen)
        plain = layer.materialize()
        torch.testing.assert_close(plain(x, route=r), layer(x, route=r), atol=1e-5, rtol=1e-5)
    y = layer(torch.randn(2, 3, 6), route=torch.randn(2, 3, 3))  # leading dims
    assert y.shape == (2, 3, 4)


def test_route_input_errors_name_the_fix_and_leave_the_layer_unchanged() -> None:
    torch.manual_seed(11)
    routed = hn.HyperMoE(4, num_experts=3, top_k=1, hidden=4, route_dim=2)
    plain = hn.HyperMoE(4, num_experts=3, top_k=1, hidden=4)
    before = copy.deepcopy(routed.state_dict())
    x = torch.randn(5, 4)
    with pytest.raises(hn.ConfigError, match=r"expected route of shape \(5, 2\).*got None"):
        routed(x)
    with pytest.raises(hn.ConfigError, match=r"expected route of shape \(5, 2\)"):
        routed(x, route=torch.randn(5, 3))
    with pytest.raises(hn.ConfigError, match="a float route="):
        routed(x, route=torch.ones(5, 2, dtype=torch.long))
    with pytest.raises(hn.ConfigError, match="expected no route="):
        plain(x, route=torch.randn(5, 2))
    with pytest.raises(hn.ConfigError, match="route_dim"):
        hn.HyperMoE(4, num_experts=3, top_k=1, route_dim=0)
    assert all(torch.equal(v, routed.state_dict()[k]) for k, v in before.items())


def test_router_probs_are_the_softmax_of_the_calls_logits_and_carry_gradients() -> None:
    torch.manual_seed(12)
    layer = hn.HyperMoE(6, num_experts=4, top_k=2, experts="hyper", router="embedding", hidden=5)
    x = torch.randn(9, 6)
    layer(x)
    torch.testing.assert_close(layer.router_probs, torch.softmax(layer.logits(x), -1))
    assert layer.router_probs.shape == (9, 4) and layer.router_probs.requires_grad
    mean = layer.router_probs.mean(0)
    (mean * mean.log()).sum().backward()  # a loss on the routing alone reaches the router and the embeddings
    assert layer.router.query.weight.grad is not None and layer.router.query.weight.grad.abs().sum() > 0
    twin = copy.deepcopy(layer)
    assert not twin.router_probs.requires_grad
