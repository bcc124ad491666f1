"""hn.GraphHyperNetwork: predict / initialize_ / fit / save / load, numerics against functional_call, gradcheck."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.func import functional_call

import hypernet as hn
from hypernet.recipes.graph import recalibrate_batchnorm
from hypernet.recipes.graph._sampler import ArchitectureSampler


def tiny_ghn(seed: int = 0, **kw: object) -> hn.GraphHyperNetwork:
    torch.manual_seed(seed)
    return hn.GraphHyperNetwork(hidden=8, block=(8, 8, 3, 3), **kw)  # type: ignore[arg-type]


def test_lazy_top_level_export() -> None:
    from hypernet.recipes.graph import GraphHyperNetwork

    assert hn.GraphHyperNetwork is GraphHyperNetwork
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hn.Nope  # type: ignore[attr-defined]


@pytest.mark.parametrize("split", ["test", "wide", "deep", "dense"])
def test_predict_returns_exactly_the_parameter_names_and_shapes(split: str) -> None:
    ghn = tiny_ghn()  # block 8x8x3x3: every wide/5x5 shape is larger than the block, i.e. never decoded directly
    for spec in ArchitectureSampler(split).specs(4, seed=3):
        net = spec.build()
        with torch.no_grad():
            params = ghn.predict(net)
        expected = {n: p.shape for n, p in net.named_parameters()}
        assert {n: p.shape for n, p in params.items()} == expected
        assert all(torch.isfinite(p).all() for p in params.values())


def test_initialize_then_forward_equals_functional_call_with_predict() -> None:
    ghn = tiny_ghn()
    net = ArchitectureSampler("test").specs(1, seed=0)[0].build().eval()
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        params = ghn.predict(net)
        reference = functional_call(net, {**dict(net.named_buffers()), **params}, (x,))
        ghn.initialize_(net)
        out = net(x)
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
    for name, p in net.named_parameters():
        assert torch.equal(p, params[name])


def test_predicted_weights_are_normalised_by_operation() -> None:
    ghn = tiny_ghn()
    net = nn.Sequential(nn.Linear(50, 40), nn.BatchNorm1d(40), nn.ReLU(), nn.Linear(40, 30), nn.Tanh(), nn.Linear(30, 10))
    with torch.no_grad():
        p = ghn.predict(net)
    # fan-in scaling: std ~ sqrt(gain / fan_in) times the raw (unit-variance at init) block
    assert 0.3 < float(p["0.weight"].std() / (2 / 50) ** 0.5) < 3
    assert 0.3 < float(p["3.weight"].std() / (1 / 40) ** 0.5) < 3
    assert float(p["1.weight"].min()) > 0 and float(p["1.weight"].max()) < 2  # BN scale in (0, 2)
    assert float(p["0.bias"].abs().max()) < 1  # biases in (-1, 1)


def test_invariant_to_the_order_children_are_declared() -> None:
    class AB(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 6, 3, padding=1)
            self.b = nn.Linear(6, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.relu(self.a(x)).mean((2, 3)))

    class BA(AB):
        def __init__(self) -> None:
            nn.Module.__init__(self)
            self.b = nn.Linear(6, 10)
            self.a = nn.Conv2d(1, 6, 3, padding=1)

    assert [n for n, _ in AB().named_parameters()] != [n for n, _ in BA().named_parameters()]
    ghn = tiny_ghn()
    with torch.no_grad():
        p, q = ghn.predict(AB()), ghn.predict(BA())
    assert p.keys() == q.keys()
    for name in p:
        assert torch.equal(p[name], q[name])


def test_gradcheck_through_a_tiny_ghn_in_float64() -> None:
    ghn = tiny_ghn(virtual_edges=3).double()
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    bias = ghn.shape_encoder.bias.detach().clone().requires_grad_(True)
    x.requires_grad_(True)

    def f(b: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        params = functional_call(ghn, {"shape_encoder.bias": b}, (net,))
        return functional_call(net, params, (inp,))

    assert torch.autograd.gradcheck(f, (bias, x), eps=1e-6, atol=1e-5)


def test_every_ghn_parameter_gets_a_gradient_from_the_task_loss() -> None:
    ghn = tiny_ghn()
    nets = [spec.build() for spec in ArchitectureSampler("train").specs(6, seed=0)]
    loss, acc = ghn.loss(nets, torch.randn(4, 1, 28, 28), torch.randint(10, (4,)))
    loss.backward()
    missing = [n for n, p in ghn.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing and 0 <= acc <= 1


def test_fit_lowers_the_loss_on_a_fixed_task() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 4)
    y = (x[:, 0] > 0).long()
    ghn = tiny_ghn()
    losses = ghn.fit(
        lambda generator: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), [(x, y)], steps=25, meta_batch=1, lr=1e-2
    )
    assert len(losses) == 25
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert not ghn.training


def test_fit_rejects_bad_arguments() -> None:
    ghn = tiny_ghn()
    with pytest.raises(hn.ConfigError, match=r"fit\(steps=...\) to be a positive int, got 0"):
        ghn.fit(ArchitectureSampler(), [], steps=0)
    with pytest.raises(hn.ConfigError, match="architecture sampler"):
        ghn.fit(42, [], steps=1)


def test_constructor_rejects_bad_sizes() -> None:
    with pytest.raises(hn.ConfigError, match="block of 4 positive sizes"):
        hn.GraphHyperNetwork(block=(8, 8, 3))


def test_initialize_recalibrates_batchnorm_statistics_with_data() -> None:
    ghn = tiny_ghn()
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    net.eval()
    x = torch.randn(16, 1, 8, 8)
    ghn.initialize_(net, data=[x[:8], (x[8:], None)])
    with torch.no_grad():
        h = net[0](x)
    torch.testing.assert_close(net[1].running_mean, h.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert not net.training and net[1].momentum == 0.1  # mode and momentum restored
    assert int(net[1].num_batches_tracked) == 2


def test_initialize_without_data_resets_batchnorm_statistics() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    net.train()
    net(torch.randn(8, 3) * 5 + 3)
    tiny_ghn().initialize_(net)
    assert torch.equal(net[1].running_mean, torch.zeros(4)) and torch.equal(net[1].running_var, torch.ones(4))
    recalibrate_batchnorm(nn.Linear(2, 2), torch.randn(3, 2))  # no BatchNorm: nothing to do


def test_failed_initialize_leaves_the_module_unchanged() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.GRUCell(3, 3))
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(hn.ConfigError, match="GRUCell"):
        tiny_ghn().initialize_(net)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_custom_ops_make_an_unknown_layer_predictable() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.GRUCell(3, 5))
    ghn = tiny_ghn(custom_ops={nn.GRUCell: "linear"})
    with torch.no_grad():
        params = ghn.predict(net)
    assert {n: p.shape for n, p in params.items()} == {n: p.shape for n, p in net.named_parameters()}


def test_unused_parameters_keep_their_values() -> None:
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(2, 2)
            self.spare = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    net = Unused()
    with torch.no_grad():
        params = tiny_ghn().predict(net)
    assert torch.equal(params["spare.weight"], net.spare.weight)


def test_parameters_with_more_than_four_dimensions_are_rejected() -> None:
    class Big(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1, 2, 3, 4, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w

    with pytest.raises(hn.ConfigError, match=r"unsupported parameter 'w' of shape \(1, 2, 3, 4, 5\)"):
        tiny_ghn().predict(Big())


def test_save_load_round_trip_and_bad_file(tmp_path: Path) -> None:
    ghn = tiny_ghn(virtual_edges=3, rounds=2)
    path = ghn.save(tmp_path / "g.safetensors", info={"note": "test"})
    assert (tmp_path / "g.json").read_text().count('"note": "test"') == 1
    loaded = hn.GraphHyperNetwork.load(path)
    assert loaded.config() == ghn.config()
    net = ArchitectureSampler("test").specs(1)[0].build()
    with torch.no_grad():
        a, b = ghn.eval().predict(net), loaded.predict(net)
    assert all(torch.equal(a[k], b[k]) for k in a)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(hn.CheckpointError, match="expected a GraphHyperNetwork safetensors file"):
        hn.GraphHyperNetwork.load(bad)


def test_pretrained_unknown_name_is_rejected() -> None:
    with pytest.raises(hn.ConfigError, match="expected a pretrained name"):
        hn.GraphHyperNetwork.pretrained("imagenet-21k")


def test_shipped_fashion_mnist_weights_load_and_predict() -> None:
    from hypernet.recipes.graph.graph_hypernetwork import WEIGHTS

    ghn = hn.GraphHyperNetwork.pretrained("fashion-mnist")
    assert not ghn.training
    info = json.loads((WEIGHTS / "ghn_fashion-mnist.json").read_text())
    # files saved before flatten_maps existed load with the decoding they were trained with
    assert info["command"].startswith("python benchmarks/ghn.py") and {"flatten_maps": False, **info["config"]} == ghn.config()
    net = ArchitectureSampler("test").specs(1)[0].build()
    with torch.no_grad():
        trained, untrained = ghn.predict(net), hn.GraphHyperNetwork(**ghn.config()).predict(net)  # type: ignore[arg-type]
    assert all(torch.isfinite(p).all() for p in trained.values())
    assert any(not torch.allclose(trained[k], untrained[k]) for k in trained)


def test_initialize_rejects_bad_calibration_data_and_leaves_the_module_unchanged() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    net.train()
    net(torch.randn(8, 3))
    before = copy.deepcopy(net.state_dict())
    for bad, match in (("abc", "expected data= to be None"), ([1, 2], "got int at batch 0"), (torch.randn(4, 7), "Linear|shape")):
        with pytest.raises(hn.ConfigError, match=match):
            tiny_ghn().initialize_(net, data=bad)
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_graphormer_encoder_predicts_trains_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ghn = hn.GraphHyperNetwork(hidden=16, block=(16, 16, 3, 3), encoder="graphormer", layers=2, heads=4)
    nets = [spec.build() for spec in ArchitectureSampler("train").specs(2)]
    x, y = torch.randn(8, 1, 28, 28), torch.randint(10, (8,))
    loss, _ = ghn.loss(nets, x, y)
    loss.backward()
    assert ghn.gnn.distance_bias.weight.grad is not None and float(ghn.gnn.distance_bias.weight.grad.abs().sum()) > 0
    loaded = hn.GraphHyperNetwork.load(ghn.save(tmp_path / "g.safetensors"))
    assert loaded.config()["encoder"] == "graphormer"
    with torch.no_grad():
        a, b = ghn.eval().predict(nets[0]), loaded.predict(nets[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    # padding: a graph's prediction does not depend on the other graphs of the batch
    with torch.no_grad():
        alone = ghn.predict_graphs([ghn.graph(nets[0])])[0]
        batched = ghn.predict_graphs([ghn.graph(nets[0]), ghn.graph(nets[1])])[0]
    assert all(torch.allclose(alone[k], batched[k], atol=1e-5) for k in alone)
    # after training, eval-mode predictions are finite and initialize_ sets exactly them (a fused eval path once gave NaN)
    ghn.fit(ArchitectureSampler("train"), [(x, y)], steps=1, meta_batch=1)
    net = nets[1]
    with torch.no_grad():
        params = ghn.predict(net)
    ghn.initialize_(net, data=x[:4])
    assert all(torch.isfinite(p).all() and torch.equal(p, params[n]) for n, p in net.named_parameters())
    with pytest.raises(hn.ConfigError, match="hidden divisible by heads"):
        hn.GraphHyperNetwork(hidden=10, encoder="graphormer", heads=4)


def test_flatten_map_finds_the_convolution_map_a_linear_head_reads() -> None:
    from hypernet.recipes.graph import build_graph
    from hypernet.recipes.graph._handwritten import HAND_WRITTEN

    found = {}
    for name, build in HAND_WRITTEN.items():
        g = build_graph(build())
        found[name] = {g.names[v]: g.flatten_map(v) for v in range(g.num_nodes) if g.flatten_map(v) is not None}
    assert found == {"lenet5": {"classifier.0": (16, 5, 5)}, "vgg": {"11": (32, 7, 7)}, "resnet4": {}, "mixer": {}, "separable": {}}
    global_head = build_graph(nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)))
    assert [global_head.flatten_map(v) for v in range(global_head.num_nodes)] == [None] * global_head.num_nodes
    sequence = build_graph(nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 2)))  # length 16, not 4 x 4
    assert [sequence.flatten_map(v) for v in range(sequence.num_nodes)] == [None] * sequence.num_nodes


def test_flatten_maps_predicts_a_flatten_head_as_the_convolution_it_equals() -> None:
    import torch.nn.functional as F

    from hypernet.recipes.graph._decoder import normalize_weight

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 5, 6), nn.ReLU(), nn.Linear(6, 2))
    assert net(torch.zeros(1, 1, 12, 12)).shape == (1, 2)  # 12 -> conv 10 -> pool 5: a 4 x 5 x 5 map into the head
    for flatten_maps in (True, False):
        ghn = tiny_ghn(flatten_maps=flatten_maps)  # block (8, 8, 3, 3)
        g = ghn.graph(net)
        v = g.names.index("4")
        with torch.no_grad():
            p = ghn.predict(net)["4.weight"]
            block = ghn.decoder.weight(ghn._encode([g])[0, v][None], 3, 3)[0]  # (8, 8, 3, 3)
        if flatten_maps:  # the 3 x 3 spatial block resized to the 5 x 5 map, channels sliced, then flattened as (C, H, W)
            conv = F.interpolate(block, size=(5, 5), mode="bilinear", align_corners=True)[:6, :4]
            torch.testing.assert_close(p, normalize_weight(conv.reshape(6, 100), g.gains[v]))
        else:  # GHN-2: position (0, 0) of the block tiled to (6, 100)
            tiled = block[:, :, 0, 0].repeat(1, 13)[:6, :100]
            torch.testing.assert_close(p, normalize_weight(tiled, g.gains[v]))
    with pytest.raises(hn.ConfigError, match="flatten_maps"):
        tiny_ghn(flatten_maps="yes")
