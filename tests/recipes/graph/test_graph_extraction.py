"""The graph a GHN reads: nodes, edges, skip connections, categories, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.graph import build_graph
from hypernet.recipes.graph._decoder import tile
from hypernet.recipes.graph._sampler import ArchitectureSampler


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.stem(x)))
        h = h + self.conv(h)  # skip connection
        return self.fc(self.pool(h).flatten(1))


def test_graph_of_hand_written_net_has_expected_nodes_edges_and_skip() -> None:
    g = build_graph(TinyResNet())
    assert g.ops == ["input", "conv", "bn", "relu", "conv", "sum", "global_pool", "linear", "output"]
    assert g.names[1] == "stem" and g.names[4] == "conv" and g.names[7] == "fc"
    assert g.edges == [(0, 1), (1, 2), (2, 3), (3, 4), (3, 5), (4, 5), (5, 6), (6, 7), (7, 8)]
    # the skip: the sum reads the relu directly, not only through the conv
    assert (3, 5) in g.edges and (4, 5) in g.edges
    assert g.params[1] == {"weight": "stem.weight", "bias": "stem.bias"}
    assert g.params[2] == {"weight": "bn.weight", "bias": "bn.bias"}
    assert g.gains[1] == 2.0 and g.gains[4] == 1.0  # conv -> bn -> relu gets He gain; the conv before the sum does not
    assert g.classifier == [7]
    d = g.distances()
    assert d[5, 3] == 1 and d[8, 0] == 7 and d[0, 8] == 0


def test_flatten_dropout_and_reshapes_are_removed_but_keep_connectivity() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(4, 3))
    g = build_graph(net)
    assert g.ops == ["input", "linear", "output"]
    assert g.edges == [(0, 1), (1, 2)]


def test_depthwise_conv_and_concat_categories() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dw = nn.Conv2d(4, 4, 3, groups=4, padding=1)
            self.pw = nn.Conv2d(8, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pw(torch.cat([x, self.dw(x)], 1))

    g = build_graph(Net())
    assert g.ops == ["input", "dwconv", "concat", "conv", "output"]
    assert (0, 2) in g.edges and (1, 2) in g.edges


def test_module_called_twice_owns_its_parameters_once() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(torch.relu(self.lin(x)))

    g = build_graph(Shared())
    assert g.ops == ["input", "linear", "relu", "linear", "output"]
    assert g.params[1] == {"weight": "lin.weight", "bias": "lin.bias"} and g.params[3] == {}


def test_parameter_read_directly_is_a_param_node() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.gamma = nn.Parameter(torch.ones(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) * self.gamma

    g = build_graph(Scale())
    assert "param" in g.ops and g.params[g.ops.index("param")] == {"weight": "gamma"}


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            return x
        return -x


class HasDataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.gate = DataDependent()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.lin(x))


def test_untraceable_module_is_named_with_a_leaf_fix() -> None:
    with pytest.raises(hn.ConfigError, match=r"module 'gate' \(DataDependent\) could not be traced.*leaf_modules=\[DataDependent\]"):
        build_graph(HasDataDependent())
    # the suggested fix works
    g = build_graph(HasDataDependent(), custom_ops={DataDependent: "other"})
    assert g.ops == ["input", "linear", "other", "output"]


def test_unsupported_module_with_parameters_is_named() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.GRUCell(3, 3))
    with pytest.raises(hn.ConfigError, match=r"unsupported module '1' \(GRUCell\).*custom_ops=\{GRUCell: 'linear'\}"):
        build_graph(net)


def test_unsupported_function_is_named() -> None:
    class Cum(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(self.lin(x), 1)

    with pytest.raises(hn.ConfigError, match="unsupported operation 'cumsum'"):
        build_graph(Cum())
    g = build_graph(Cum(), custom_ops={torch.cumsum: "sum"})
    assert g.ops == ["input", "linear", "sum", "output"]


def test_model_without_parameters_and_non_module_are_rejected() -> None:
    with pytest.raises(hn.ConfigError, match=r"with parameters to predict, got Sequential with none"):
        build_graph(nn.Sequential(nn.ReLU()))
    with pytest.raises(hn.ConfigError, match=r"expected an nn\.Module"):
        build_graph("net")  # type: ignore[arg-type]


def test_bad_custom_category_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected a category"):
        build_graph(HasDataDependent(), custom_ops={DataDependent: "teleport"})


def test_tile_slices_and_repeats_each_dimension() -> None:
    block = torch.arange(24.0).view(2, 3, 2, 2)
    out = tile(block, (5, 2, 3, 1))
    assert out.shape == (5, 2, 3, 1)
    assert torch.equal(out[2], block[0, :2, [0, 1, 0], :1])
    assert torch.equal(out[:2, :, :2], block[:, :2, :, :1])


@pytest.mark.parametrize("split", ["train", "test", "wide", "deep", "dense"])
def test_sampler_splits_build_and_trace(split: str) -> None:
    specs = ArchitectureSampler(split).specs(6, seed=0)
    for spec in specs:
        net = spec.build()
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
        build_graph(net)
    depths = [len(s.ops) for s in specs]
    if split == "deep":
        assert min(depths) >= 6
    elif split == "dense":
        assert min(depths) >= 4
    else:
        assert max(depths) <= 4
    if split == "wide":
        assert min(min(s.widths) for s in specs) >= 48
    if split == "dense":
        assert all(s.skip == "dense" for s in specs)


def test_test_split_differs_from_train_split_and_is_reproducible() -> None:
    train, test = ArchitectureSampler("train").specs(20), ArchitectureSampler("test").specs(20)
    assert train != test
    assert test == ArchitectureSampler("test").specs(20)


def test_sampler_rejects_unknown_split_and_family() -> None:
    with pytest.raises(hn.ConfigError, match="expected a split"):
        ArchitectureSampler("huge")
    with pytest.raises(hn.ConfigError, match="expected families"):
        ArchitectureSampler("train", families=("rnn",))
