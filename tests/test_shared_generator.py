"""The shared-head generator: one head per kind of tensor, its size independent of the depth, its output by hand."""

from __future__ import annotations

import torch
from torch import nn

import hypernet as hn
from hypernet.generators.shared import tensor_kind


def _deep(layers: int) -> nn.Sequential:
    return nn.Sequential(*[nn.Linear(6, 6) for _ in range(layers)])


def _heads(model: hn.HyperModel) -> int:
    return sum(p.numel() for p in model.generator.heads.parameters())


def test_heads_are_shared_across_layers_so_their_size_does_not_grow_with_depth() -> None:
    shallow = hn.HyperModel(_deep(3), condition=hn.Embedding(2, 8), generator=hn.create_generator("shared", hidden=(16,)))
    deep = hn.HyperModel(_deep(12), condition=hn.Embedding(2, 8), generator=hn.create_generator("shared", hidden=(16,)))
    assert len(deep.generator.heads) == len(shallow.generator.heads) == 2  # weights, biases
    assert _heads(deep) == _heads(shallow) == 16 * (36 + 6) + (36 + 6)
    layerwise = hn.HyperModel(_deep(12), condition=hn.Embedding(2, 8), generator=hn.create_generator("layerwise", hidden=(16,)))
    assert _heads(deep) * 12 == sum(p.numel() for p in layerwise.generator.heads.parameters())


def test_output_is_each_tensors_key_through_the_trunk_and_its_kinds_head() -> None:
    model = hn.HyperModel(_deep(4), condition=hn.Embedding(3, 8), generator=hn.create_generator("shared", layer_dim=5, hidden=(16, 12)))
    gen = model.generator
    emb = torch.randn(3, 8)
    out = gen(emb)
    h = gen.trunk.rest(torch.relu(gen.trunk.first(torch.cat([emb[:, None].expand(3, 8, 8), gen.trunk.keys[None].expand(3, 8, 5)], -1))))
    expected = []
    for t, spec in enumerate(gen.spec.tensors):
        head = gen.heads[0 if spec.name.endswith("weight") else 1]
        expected.append(head(h[:, t]))
    torch.testing.assert_close(out, torch.cat(expected, -1), rtol=1e-5, atol=1e-6)
    w = model.generate(1)
    assert not torch.allclose(w["0.weight"], w["1.weight"])  # the keys make layers differ


def test_tensor_kinds_ignore_layer_indices_but_not_shapes() -> None:
    a = tensor_kind("model.layers.3.self_attn.v_proj.lora_B.default.weight", (192, 8))
    b = tensor_kind("model.layers.29.self_attn.v_proj.lora_B.default.weight", (192, 8))
    assert a == b and a != tensor_kind("model.layers.3.self_attn.q_proj.lora_B.default.weight", (576, 8))
    assert tensor_kind("0.weight", (6, 6)) == tensor_kind("11.weight", (6, 6)) != tensor_kind("11.weight", (6, 7))
    assert tensor_kind("block1.weight", (2,)) != tensor_kind("block2.weight", (2,))  # digits inside a name stay
