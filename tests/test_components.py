"""Conditions and the generator registry on their own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet._spec import ParamSpec


def test_registry_lists_the_four_required_generators_sorted() -> None:
    names = hn.list_generators()
    assert {"chunked", "layerwise", "lowrank", "mlp"} <= set(names)
    assert names == sorted(names)


def test_registering_a_new_generator_makes_it_usable() -> None:
    @hn.register_generator("scaled_mlp")
    class Scaled(hn.generators.MLPGenerator):
        def forward(self, emb: torch.Tensor) -> torch.Tensor:
            return 0.5 * super().forward(emb)

    try:
        model = hn.HyperModel(nn.Linear(3, 2), condition=hn.Embedding(2, 4), generator="scaled_mlp")
        assert model(torch.randn(2, 3), torch.tensor([0, 1])).shape == (2, 2)
        with pytest.raises(hn.ConfigError, match="already registered"):
            hn.register_generator("scaled_mlp")(hn.generators.ChunkedGenerator)
    finally:
        hn.generators.unregister_generator("scaled_mlp")
    assert "scaled_mlp" not in hn.list_generators()


@pytest.mark.parametrize("name", ["mlp", "chunked", "layerwise", "lowrank"])
def test_generator_is_batched_and_reports_its_size(name: str) -> None:
    spec = ParamSpec.from_module(nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 3)))
    gen = hn.create_generator(name).bind(spec, 6)
    out = gen(torch.randn(4, 6))
    assert out.shape == (4, spec.numel)
    assert gen.num_parameters == sum(p.numel() for p in gen.parameters())
    single = torch.stack([gen(e[None])[0] for e in torch.randn(3, 6).unbind()])
    assert single.shape == (3, spec.numel)


def test_chunked_default_chunk_size_compresses_large_targets() -> None:
    target = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    model = hn.HyperModel(target, condition=hn.Embedding(5, 8), generator="chunked")
    assert model.compression < 0.2
    assert model.generator.num_chunks * model.generator.chunk_size >= model.spec.numel


def test_lowrank_update_has_the_requested_rank() -> None:
    target = nn.Linear(20, 12, bias=False)
    model = hn.HyperModel(target, condition=hn.Embedding(2, 8), generator=hn.create_generator("lowrank", rank=3))
    delta = model.generate(0)["weight"].detach() - target.weight
    assert int(torch.linalg.matrix_rank(delta)) == 3


def test_set_encoder_is_permutation_invariant_and_label_sensitive() -> None:
    enc = hn.SetEncoder(x_dim=4, n_classes=3, dim=8)
    X, y = torch.randn(12, 4), torch.randint(0, 3, (12,))
    perm = torch.randperm(12)
    a = enc(enc.split((X, y)).values)
    torch.testing.assert_close(a, enc(enc.split((X[perm], y[perm])).values), atol=1e-6, rtol=1e-6)
    assert not torch.allclose(a, enc(enc.split((X, (y + 1) % 3)).values))


def test_continuous_encodings_and_fourier_features() -> None:
    plain = hn.Continuous(2, 8)
    mip = hn.Continuous(2, 8, encoding="mip", fourier=3)
    x = torch.rand(5, 2)
    assert plain.encode(x).shape == (5, 2)
    enc = mip.encode(x)
    assert enc.shape == (5, 2 + 2 + 6)
    torch.testing.assert_close(enc[:, 2:4], 1 - x)
    assert mip(x).shape == (5, 8)
    assert plain.split(0.5 if plain.in_dim == 1 else torch.tensor([0.1, 0.2])).mode == "single"
    one = hn.Continuous(1, 4)
    assert one.split(0.25).values.shape == (1, 1)


def test_continuous_requires_grad_keeps_every_row() -> None:
    cond = hn.Continuous(1, 4)
    hp = torch.full((3, 1), 0.5, requires_grad=True)
    assert cond.split(hp).count == 3


def test_embeddings_start_with_unit_second_moment() -> None:
    table = hn.Embedding(10, 16).table
    torch.testing.assert_close(table.pow(2).mean(dim=1), torch.ones(10))
