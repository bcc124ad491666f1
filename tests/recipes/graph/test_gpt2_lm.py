"""GPT-2 configs for the low-rank GHN: held-out configs are never drawn; the GHN trains on language-model losses."""

from __future__ import annotations

import pytest
import torch

import hypernet as hn
from hypernet.recipes.graph._gpt2 import HEADS, HELD_OUT, LAYERS, WIDTHS, GPT2Sampler, GPT2Spec


def test_sampler_draws_the_training_ranges_and_never_a_held_out_config() -> None:
    sampler = GPT2Sampler(vocab=20, context=8)
    g = torch.Generator().manual_seed(0)
    specs = [sampler.spec(g) for _ in range(500)]
    assert not set(specs) & set(HELD_OUT)
    assert {s.layers for s in specs} == set(LAYERS) and {s.width for s in specs} == set(WIDTHS)
    assert {s.heads for s in specs} == set(HEADS) and all(s.width % s.heads == 0 for s in specs)
    beyond = [s for s in HELD_OUT if s.width > max(WIDTHS) or s.layers > max(LAYERS)]
    assert len(HELD_OUT) == 10 and len(beyond) == 4
    with pytest.raises(hn.ConfigError, match="vocab >= 2"):
        GPT2Sampler(vocab=1, context=8)


def test_ghn_loss_on_a_language_model_matches_the_model_with_predicted_parameters() -> None:
    torch.manual_seed(0)
    ghn = hn.GraphHyperNetwork(hidden=8, block=(16, 4, 1, 1), virtual_edges=3, lowrank=2, lowrank_rows=16)
    model = GPT2Spec(1, 16, 2).build(vocab=11, context=6)
    x = torch.randint(11, (3, 7))
    loss, acc = ghn.loss([model], x[:, :-1], x[:, 1:])
    loss.backward()
    with torch.no_grad():
        params = ghn.predict(model)
        logits = torch.func.functional_call(model, params, (x[:, :-1],)).logits
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
    torch.testing.assert_close(loss.detach(), expected)
    assert 0.0 <= acc <= 1.0
    assert ghn.lowrank_decoder is not None and ghn.lowrank_decoder.net[0].weight.grad is not None
    assert float(ghn.lowrank_decoder.net[0].weight.grad.abs().sum()) > 0
