"""The sampler covers the motifs of hand-written networks but never generates the five held-out nets verbatim."""

from __future__ import annotations

import pytest
import torch

from hypernet.recipes.graph import ArchitectureSampler, ArchSpec, build_graph
from hypernet.recipes.graph._handwritten import HAND_WRITTEN, held_out_signatures, shape_signature
from hypernet.recipes.graph._sampler import CNN_OPS

MIXER = ArchSpec("mixer", (32, 32, 32), ("mixer", "mixer"), "ln", "gelu", "residual", (False, False), pool=7, expansion=2)
VGG = ArchSpec(
    "cnn", (16, 16, 32, 32), ("conv3",) * 3, "none", "relu", "none", (True, False, True), stem="plain", head="flatten", head_hidden=(64,)
)


@pytest.mark.parametrize(("spec", "name"), [(MIXER, "mixer"), (VGG, "vgg")])
def test_the_spec_grammar_can_express_held_out_nets_so_the_filter_matters(spec: ArchSpec, name: str) -> None:
    net = spec.build()
    assert shape_signature(net) == shape_signature(HAND_WRITTEN[name]())
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_sampler_redraws_a_held_out_net(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = ArchitectureSampler("train")
    other = ArchitectureSampler("train").specs(1)[0]
    draws = iter([MIXER, VGG, other])
    monkeypatch.setattr(sampler, "_draw", lambda generator: next(draws))
    assert sampler.spec(torch.Generator()) == other


def test_no_hand_written_net_is_generated_in_many_draws() -> None:
    held_out = held_out_signatures()
    assert len(held_out) == len(HAND_WRITTEN)
    for split in ("train", "test"):
        for spec in ArchitectureSampler(split).specs(150):
            assert shape_signature(spec.build()) not in held_out


def test_training_split_covers_the_motifs_of_standard_families() -> None:
    specs = ArchitectureSampler("train").specs(200)
    cnn = [s for s in specs if s.family == "cnn"]
    assert {o for s in cnn for o in s.ops} == set(CNN_OPS)  # plain, depthwise-separable, basic and bottleneck blocks
    assert {s.family for s in specs} == {"cnn", "mlp", "mixer"}
    assert {s.head for s in cnn} == {"global", "flatten"} and {s.stem for s in cnn} == {"plain", "stride"}
    assert {s.down for s in cnn if any(s.downsample)} == {"pool", "avg", "stride"}
    assert any(s.head == "flatten" and len(s.head_hidden) == 2 and s.stem == "plain" for s in cnn)  # LeNet-style
    vgg_like = [s for s in cnn if set(s.ops) == {"conv3"} and s.down == "pool" and sum(s.downsample) >= 2]
    assert vgg_like
    ops = {op for s in specs[:60] for op in build_graph(s.build()).ops}
    assert {"max_pool", "avg_pool", "dwconv", "transpose", "sum", "concat", "global_pool", "mean"} <= ops


def test_strided_and_residual_blocks_build_with_the_right_resolution() -> None:
    spec = ArchSpec("cnn", (8, 16, 16), ("basic", "bottleneck"), "bn", "relu", "none", (True, True), down="stride", head="flatten")
    net = spec.build()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert net.head[1].in_features == 16 * 4 * 4  # 14 -> 7 -> 4 with stride-2 convolutions
    g = build_graph(net)
    assert g.ops.count("sum") == 2 and g.ops.count("conv") == 1 + 2 + 1 + 3 + 1  # stem, basic + projection, bottleneck + projection
