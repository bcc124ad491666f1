"""Models torch.fx cannot trace (Hugging Face GPT-2, BERT, ViT): graphs from one forward pass, predict, initialize_."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import transformers
from torch import nn
from torch.func import functional_call

import hypernet as hn
from hypernet.recipes.graph import build_graph


def tiny(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "gpt2":
        cfg = transformers.GPT2Config(n_layer=2, n_embd=24, n_head=2, vocab_size=40, n_positions=16, bos_token_id=0, eos_token_id=0)
        return transformers.GPT2LMHeadModel(cfg)
    if kind == "bert":
        cfg = transformers.BertConfig(
            num_hidden_layers=2, hidden_size=24, num_attention_heads=2, intermediate_size=48, vocab_size=40, max_position_embeddings=16
        )
        return transformers.BertModel(cfg)
    cfg = transformers.ViTConfig(
        num_hidden_layers=2, hidden_size=24, num_attention_heads=2, intermediate_size=48, image_size=16, patch_size=8, num_labels=3
    )
    return transformers.ViTForImageClassification(cfg)


def ghn(**kw: object) -> hn.GraphHyperNetwork:
    torch.manual_seed(1)
    return hn.GraphHyperNetwork(hidden=16, block=(16, 16, 3, 3), virtual_edges=4, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["gpt2", "bert", "vit"])
def test_predict_on_tiny_hugging_face_models_gives_every_parameter(kind: str) -> None:
    model = tiny(kind)
    graph = hn.GraphHyperNetwork().graph(model)
    assert graph.source == "autograd" and graph.unused == []  # every parameter is read by the forward pass
    assert "attention" in graph.ops and graph.ops[0] == "input" and graph.ops[-1] == "output"
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        params = ghn().predict(model)
    assert list(params) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert params[name].shape == p.shape, name
        assert torch.isfinite(params[name]).all(), name
        assert not torch.equal(params[name], p), name  # predicted, not copied
        assert torch.equal(p, before[name])  # the model itself is untouched


def test_gpt2_graph_has_residual_sums_and_transposed_conv1d_weights() -> None:
    model = tiny("gpt2")
    g = build_graph(model)
    first = g.names.index("transformer.h.0.attn.c_attn")
    assert g.ops[first] == "linear" and g.params[first]["weight"] == "transformer.h.0.attn.c_attn.weight"
    assert "transformer.h.0.attn.c_attn.weight" in g.transposed  # Conv1D stores (in, out)
    assert g.layout("transformer.h.0.attn.c_attn.weight") == (72, 24)
    ln2 = g.names.index("transformer.h.0.ln_2")
    (residual,) = [s for s, d in g.edges if d == ln2]
    assert g.ops[residual] == "sum" and len([s for s, d in g.edges if d == residual]) == 2


def test_graph_from_given_inputs_equals_the_graph_from_example_inputs_on_a_caching_model() -> None:
    model = tiny("gpt2")
    assert model.config.use_cache  # the key/value cache would add concatenations to the forward pass
    ids = torch.randint(40, (1, 8), generator=torch.Generator().manual_seed(3))
    reference = build_graph(model)
    for inputs in (ids, {"input_ids": ids}):
        graph = build_graph(model, inputs=inputs)
        assert (graph.ops, graph.edges, graph.names) == (reference.ops, reference.edges, reference.names)
    cached = build_graph(model, inputs={"input_ids": ids, "use_cache": True})  # the caller's choice is kept
    assert cached.ops.count("concat") > reference.ops.count("concat")


@pytest.mark.parametrize("kind", ["gpt2", "vit"])
def test_initialize_then_forward_equals_functional_call_with_the_prediction(kind: str) -> None:
    model = tiny(kind).eval()
    g = ghn()
    x = torch.randint(40, (2, 7)) if kind == "gpt2" else torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        params = g.predict(model)
        expected = functional_call(model, params, (x,)).logits
        g.initialize_(model)
        got = model(x).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    if kind == "gpt2":  # tied output layer follows the predicted embedding
        assert torch.equal(model.lm_head.weight, params["transformer.wte.weight"])


class Gated(nn.Module):
    """Data-dependent control flow (fx cannot trace it) around an operation the GHN does not know."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(x)
        if h.sum() > -1e9:
            h = torch.cumsum(h, 1)
        return self.out(h)


def test_unknown_operation_in_the_forward_pass_is_named() -> None:
    net = Gated()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(hn.ConfigError, match=r"unsupported operation 'CumsumBackward0'.*custom_ops=\{'CumsumBackward0': 'other'\}"):
        ghn().initialize_(net, inputs=torch.ones(2, 3))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    g = build_graph(net, custom_ops={"CumsumBackward0": "sum"}, inputs=torch.ones(2, 3))
    assert g.ops == ["input", "linear", "sum", "linear", "output"] and g.source == "autograd"


def test_untraceable_model_without_inputs_asks_for_them() -> None:
    with pytest.raises(hn.ConfigError, match=r"could not be traced.*give example inputs \(inputs=\.\.\.\)"):
        build_graph(Gated())


class SkipNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.stem(x)))
        h = h + self.conv(h)
        return self.fc(self.pool(h).flatten(1))


def test_autograd_graph_equals_the_fx_graph_where_both_work() -> None:
    net = SkipNet().train()
    fx_graph = build_graph(net, method="fx")
    ag = build_graph(net, inputs=torch.randn(2, 1, 6, 6), method="autograd")
    assert (ag.ops, ag.edges, ag.params, ag.gains, ag.classifier) == (
        fx_graph.ops,
        fx_graph.edges,
        fx_graph.params,
        fx_graph.gains,
        fx_graph.classifier,
    )
    assert net.training and net.bn.training and int(net.bn.num_batches_tracked) == 0  # mode and buffers untouched


def rank(w: torch.Tensor) -> int:
    """Numerical rank of a float32 matrix: singular values above 1e-4 of the largest."""
    s = torch.linalg.svdvals(w.double())
    return int((s > 1e-4 * s[0]).sum())


def test_lowrank_decoder_gives_matrices_of_rank_at_most_r(tmp_path: Path) -> None:
    model = tiny("gpt2")
    g = ghn(lowrank=3, lowrank_rows=8)  # rows < widths: factors are tiled
    with torch.no_grad():
        params = g.predict(model)
    matrices = {n: p for n, p in params.items() if p.dim() == 2}
    assert len(matrices) == 10  # 2 embeddings + 4 per layer
    for name, w in matrices.items():
        assert rank(w) <= 3, name
    full = ghn()
    with torch.no_grad():
        ranks = [rank(p) for p in full.predict(model).values() if p.dim() == 2]
    assert max(ranks) > 3  # the block decoder is not low-rank: the test can tell them apart
    path = g.save(tmp_path / "lr.safetensors")
    loaded = hn.GraphHyperNetwork.load(path)
    assert loaded.config()["lowrank"] == 3
    with torch.no_grad():
        again = loaded.predict(model)
    assert all(torch.equal(again[k], params[k]) for k in params)


def test_weight_scale_multiplies_predicted_weights_only() -> None:
    model = tiny("gpt2")
    with torch.no_grad():
        plain = ghn(lowrank=3).predict(model)
        scaled = ghn(lowrank=3, weight_scale=0.25).predict(model)
    for name, p in plain.items():
        factor = 0.25 if p.dim() == 2 else 1.0  # matrices scaled; LayerNorm scales and biases not
        torch.testing.assert_close(scaled[name], factor * p)
    with pytest.raises(hn.ConfigError, match=r"weight_scale=\.\.\.\) to be a positive number, got 0\.0"):
        hn.GraphHyperNetwork(weight_scale=0.0)


def test_bias_scale_multiplies_predicted_biases_only_and_round_trips(tmp_path: Path) -> None:
    model = tiny("gpt2")
    with torch.no_grad():
        plain = ghn(lowrank=3).predict(model)
        half = ghn(lowrank=3, bias_scale=0.5).predict(model)
        none = ghn(lowrank=3, bias_scale=0.0)
        zero = none.predict(model)
    biases = [n for n in plain if n.endswith(".bias")]
    assert biases and any(plain[n].abs().sum() > 0 for n in biases)
    for name, p in plain.items():
        factor = 0.5 if name.endswith(".bias") else 1.0  # linear and LayerNorm biases; weights and norm scales not
        torch.testing.assert_close(half[name], factor * p)
        assert not name.endswith(".bias") or not zero[name].any(), name
    loaded = hn.GraphHyperNetwork.load(none.save(tmp_path / "g.safetensors"))
    assert loaded.config()["bias_scale"] == 0.0
    with pytest.raises(hn.ConfigError, match="bias_scale"):
        hn.GraphHyperNetwork(bias_scale=-1.0)


def test_positions_add_node_order_sinusoids_and_round_trip(tmp_path: Path) -> None:
    from hypernet.recipes.graph._encoder import sinusoid_positions

    model = tiny("gpt2")
    plain, placed = ghn(lowrank=3), ghn(lowrank=3, positions=True)  # same seed: the same weights
    graph = plain.graph(model)
    with torch.no_grad():
        base, shifted = plain._encode([graph]), placed._encode([graph])
        torch.testing.assert_close(shifted - base, sinusoid_positions(graph.num_nodes, 16).expand_as(base))
        params = placed.predict(model)
        unplaced = plain.predict(model)
    assert any(not torch.equal(params[k], unplaced[k]) for k in params)
    assert "positions" not in plain.config()  # GHNs saved before the option load unchanged
    loaded = hn.GraphHyperNetwork.load(placed.save(tmp_path / "p.safetensors"))
    assert loaded.config()["positions"] is True
    with torch.no_grad():
        again = loaded.predict(model)
    assert all(torch.equal(again[k], params[k]) for k in params)
    with pytest.raises(hn.ConfigError, match=r"GraphHyperNetwork\(positions=\.\.\.\) to be True or False"):
        hn.GraphHyperNetwork(positions=1)  # type: ignore[arg-type]


def test_residual_predicts_a_correction_added_to_the_current_parameters(tmp_path: Path) -> None:
    model = tiny("gpt2")
    plain, residual = ghn(lowrank=3), ghn(lowrank=3, residual=True)  # same seed: the same weights
    norms = {n for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    current = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        absolute, corrected = plain.predict(model), residual.predict(model)
    for name, p in current.items():
        is_scale = name.endswith(".weight") and name.rsplit(".", 1)[0] in norms
        delta = absolute[name] - 1.0 if is_scale else absolute[name]  # norm scales: a correction around 0
        torch.testing.assert_close(corrected[name], p + delta, msg=name)
    x = torch.randint(0, 40, (2, 8))
    for module in model.modules():  # loss() runs the model in train mode: no dropout, so both see the same function
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    loss, _ = residual.loss([model], x[:, :-1], x[:, 1:])  # training sees the same corrected parameters
    with torch.no_grad():  # loss() reads the graph from the batch's first row
        on_batch = residual.predict(model, x[:1, :-1])
    reference = functional_call(model, on_batch, (x[:, :-1],)).logits
    torch.testing.assert_close(loss, nn.functional.cross_entropy(reference.flatten(0, 1), x[:, 1:].flatten()))
    residual.initialize_(model)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, corrected[name], msg=name)
    loaded = hn.GraphHyperNetwork.load(residual.save(tmp_path / "r.safetensors"))
    assert loaded.config()["residual"] is True and "residual" not in plain.config()
    with pytest.raises(hn.ConfigError, match=r"GraphHyperNetwork\(residual=\.\.\.\) to be True or False"):
        hn.GraphHyperNetwork(residual="yes")  # type: ignore[arg-type]


def test_cache_switch_is_added_only_where_the_forward_takes_it() -> None:
    from hypernet.recipes.graph._autograd import _without_cache

    class Caching(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = transformers.GPT2Config(use_cache=True)

    plain, wrapper, builtin = Caching(), Caching(), Caching()
    plain.forward = lambda input_ids: input_ids  # type: ignore[method-assign]
    wrapper.forward = lambda input_ids, **kwargs: input_ids  # type: ignore[method-assign]  # passes the rest on (PEFT)
    builtin.forward = torch.relu  # type: ignore[method-assign]  # no readable signature
    assert _without_cache(plain, {"input_ids": 1}) == {"input_ids": 1}
    assert _without_cache(wrapper, {"input_ids": 1}) == {"input_ids": 1, "use_cache": False}
    assert _without_cache(builtin, {"input_ids": 1}) == {"input_ids": 1}
    assert _without_cache(tiny("gpt2"), {"input_ids": 1}) == {"input_ids": 1, "use_cache": False}
    assert _without_cache(tiny("gpt2"), {"use_cache": True}) == {"use_cache": True}
