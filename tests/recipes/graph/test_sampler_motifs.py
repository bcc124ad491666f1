"""The sampler covers the motifs of hand-written networks but never generates the five held-out nets verbatim."""

from __future__ import annotations

import pytest
import torch

from hypernet.recipes.graph import ArchitectureSampler, ArchSpec, build_graph
from hypernet.recipes.graph._handwritten import HAND_WRITTEN, held_out_signatures, shape_signature
from hypernet.recipes.graph._sampler import CNN_OPS, VALID_OPS

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
    assert {o for s in cnn for o in s.ops} == set(CNN_OPS) | set(VALID_OPS)  # plain (padded, valid), separable, residual
    assert {s.family for s in specs} == {"cnn", "mlp", "mixer"}
    assert {s.head for s in cnn} == {"global", "flatten"} and {s.stem for s in cnn} == {"plain", "stride"}
    assert {s.down for s in cnn if any(s.downsample)} == {"pool", "avg", "stride"}
    assert any(s.head == "flatten" and len(s.head_hidden) == 2 and s.stem == "plain" for s in cnn)  # LeNet-style
    vgg_like = [s for s in cnn if set(s.ops) == {"conv3"} and s.down == "pool" and sum(s.downsample) >= 2]
    assert vgg_like
    ops = {op for s in specs[:60] for op in build_graph(s.build()).ops}
    assert {"max_pool", "avg_pool", "dwconv", "transpose", "sum", "concat", "global_pool", "mean"} <= ops


def test_valid_convolutions_shrink_the_map_like_lenet_and_take_no_skip() -> None:
    # LeNet-5's second stage: a padded 5x5 convolution, pool, an unpadded 5x5 one, pool: a 5x5 map into the head
    spec = ArchSpec("cnn", (6, 6, 16), ("conv5", "conv5v"), "none", "relu", "residual", (True, True), stem="plain",
                    stem_kernel=5, head="flatten", head_hidden=(96, 48))  # fmt: skip
    net = spec.build()
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert net.head[1].in_features == 16 * 5 * 5  # 28 -> pool 14 -> valid 10 -> pool 5
    assert net.skips == ("residual", "none")  # a valid convolution changes the size: no residual around it
    assert net.blocks[1][0].padding == (0, 0) and net.blocks[0][0].padding == (2, 2)


def test_sampled_valid_convolutions_keep_maps_of_at_least_3x3() -> None:
    specs = [s for s in ArchitectureSampler("train").specs(400) if any(o in VALID_OPS for o in s.ops)]
    assert len(specs) >= 10
    for spec in specs:
        h = spec.build()(torch.zeros(1, 1, 28, 28))
        assert h.shape == (1, 10)
    shapes = {spec.build().head[1].in_features // spec.widths[-1] for spec in specs if spec.head == "flatten"}
    assert len(shapes - {49}) >= 2  # flatten heads over maps other than 7x7 (e.g. 5x5, 4x4)


def test_strided_and_residual_blocks_build_with_the_right_resolution() -> None:
    spec = ArchSpec("cnn", (8, 16, 16), ("basic", "bottleneck"), "bn", "relu", "none", (True, True), down="stride", head="flatten")
    net = spec.build()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert net.head[1].in_features == 16 * 4 * 4  # 14 -> 7 -> 4 with stride-2 convolutions
    g = build_graph(net)
    assert g.ops.count("sum") == 2 and g.ops.count("conv") == 1 + 2 + 1 + 3 + 1  # stem, basic + projection, bottleneck + projection
