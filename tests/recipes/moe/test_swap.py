"""swap_mlp: the MLP blocks of a TransformerEncoderLayer and of a tiny Hugging Face GPT-2 become HyperMoE layers that train."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.moe import balance_loss, moe_layers, swap_mlp


def _train(model: nn.Module, loss_fn: object, steps: int = 30) -> tuple[float, float]:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()  # type: ignore[operator]
        total = loss + 0.01 * balance_loss(model)
        total.backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), name
        opt.step()
        losses.append(float(loss.detach()))
    return losses[0], losses[-1]


@pytest.mark.parametrize("experts,router", [("hyper", "embedding"), ("plain", "hyper")])
def test_transformer_encoder_layer(experts: str, router: str) -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=24, dropout=0.0, batch_first=True)
    assert swap_mlp(layer, num_experts=4, top_k=2, experts=experts, router=router) == [""]
    (moe,) = moe_layers(layer)
    assert (moe.d_in, moe.d_out, moe.num_experts) == (16, 16, 4)
    assert moe.experts.template[0].out_features == 24  # type: ignore[index]
    x, y = torch.randn(8, 5, 16), torch.randn(8, 5, 16)
    assert layer(x).shape == (8, 5, 16)
    first, last = _train(layer, lambda: (layer(x) - y).pow(2).mean())
    assert last < 0.9 * first
    layer.eval()
    with torch.no_grad():  # the fused fast path is off: the MoE runs in eval mode too
        assert layer(x).shape == (8, 5, 16) and moe.last_experts.shape == (40, 2)


def test_gpt2_from_a_tiny_config() -> None:
    import transformers  # a dev dependency

    torch.manual_seed(1)
    config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2, n_inner=32)
    model = transformers.GPT2LMHeadModel(config)
    names = swap_mlp(model, num_experts=4, top_k=2, experts="hyper", router="hyper")
    assert names == ["transformer.h.0", "transformer.h.1"]
    assert len(moe_layers(model)) == 2
    ids = torch.randint(0, 50, (4, 12))
    out = model(ids, labels=ids)
    assert out.logits.shape == (4, 12, 50)
    first, last = _train(model, lambda: model(ids, labels=ids).loss)
    assert last < 0.9 * first


def test_swap_errors_leave_the_model_unchanged() -> None:
    with pytest.raises(hn.ConfigError, match=r"expected a model with nn\.TransformerEncoderLayer"):
        swap_mlp(nn.Linear(3, 3), num_experts=2, top_k=1)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=8, batch_first=True)
    with pytest.raises(hn.ConfigError, match=r"expected top_k <= num_experts \(2\), got top_k=3"):
        swap_mlp(layer, num_experts=2, top_k=3)
    assert isinstance(layer.linear1, nn.Linear)
    with pytest.raises(hn.ConfigError, match="swap_mlp takes them from each block"):
        swap_mlp(layer, num_experts=2, top_k=1, hidden=5)
