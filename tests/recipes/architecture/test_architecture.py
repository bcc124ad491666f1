"""ArchitectureSearch: lossless encoding, clear rejections, generated weights shaped like the plain module, ranking."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn
from hypernet.recipes.architecture.supernet import MLPSupernet, plain_weights

from ..hyperparameters.test_hyperparameters import _one_thread  # noqa: F401 - autouse fixture: one torch thread per test


def small_space() -> hn.MLPSpace:
    return hn.MLPSpace(in_features=10, num_classes=3, depths=(1, 2, 3), widths=(4, 8, 16), activations=("relu", "tanh", "sigmoid"))


def all_architectures(space: hn.MLPSpace) -> Iterator[hn.Architecture]:
    for depth in space.depths:
        for widths in itertools.product(space.widths, repeat=depth):
            for acts in itertools.product(space.activations, repeat=depth):
                yield hn.Architecture(widths, acts)


def test_encoding_is_lossless_and_injective() -> None:
    space = small_space()
    codes = set()
    count = 0
    for arch in all_architectures(space):
        code = space.encode(arch)
        assert code.shape == (space.code_dim,) and float(code.min()) >= 0 and float(code.max()) <= 1
        assert space.decode(code) == arch
        codes.add(tuple(code.tolist()))
        count += 1
    assert count == space.num_architectures == len(codes) == 9 + 9**2 + 9**3
    assert space.decode(space.encode(hn.Architecture((16,), ("tanh",))) + 1e-6) == hn.Architecture((16,), ("tanh",))  # float noise is fine


@pytest.mark.parametrize(
    ("arch", "match"),
    [
        (hn.Architecture((8, 8), ("relu",)), "one activation per hidden layer"),
        (hn.Architecture((8, 8, 8, 8), ("relu",) * 4), r"depth in \(1, 2, 3\)"),
        (hn.Architecture((5,), ("relu",)), r"widths in \(4, 8, 16\), got \[5\]"),
        (hn.Architecture((8,), ("elu",)), r"activations in .*got \['elu'\]"),
        ((8, "relu"), "hn.Architecture"),
    ],
)
def test_invalid_architectures_are_rejected(arch: object, match: str) -> None:
    with pytest.raises(hn.ConfigError, match=match):
        small_space().encode(arch)  # type: ignore[arg-type]


def test_invalid_codes_are_rejected() -> None:
    space = small_space()
    good = space.encode(hn.Architecture((8, 4), ("relu", "tanh")))
    slot = space.slot_dim
    bad = {
        "between widths": good.clone().index_fill_(0, torch.tensor([1]), 0.25),
        "two activations": good.clone().index_fill_(0, torch.tensor([3]), 1.0),
        "no activation": good.clone().index_fill_(0, torch.tensor([2]), 0.0),
        "half active": good.clone().index_fill_(0, torch.tensor([0]), 0.5),
        "gap": torch.cat([torch.zeros(slot), good[:slot], torch.zeros(slot)]),
        "empty": torch.zeros(space.code_dim),
    }
    messages = {
        "between widths": "slot 0",
        "two activations": "one-hot activation in slot 0",
        "no activation": "one-hot activation in slot 0",
        "half active": "slot 0",
        "gap": "active layers to come first",
        "empty": r"depth in \(1, 2, 3\), got 0",
    }
    for name, code in bad.items():
        with pytest.raises(hn.ConfigError, match=messages[name]):
            space.decode(code)
    with pytest.raises(hn.ConfigError, match="shape"):
        space.decode(good[:-1])


def test_space_arguments_are_checked() -> None:
    with pytest.raises(hn.ConfigError, match="distinct ints"):
        hn.MLPSpace(10, 3, widths=(8, 8))
    with pytest.raises(hn.ConfigError, match="activations among"):
        hn.MLPSpace(10, 3, activations=("relu", "swish"))
    with pytest.raises(hn.ConfigError, match="positive int"):
        hn.MLPSpace(0, 3)
    with pytest.raises(hn.ConfigError, match=">= 1"):
        hn.MLPSpace(10, 3, depths=(0, 1))
    with pytest.raises(hn.ConfigError, match="at most"):
        hn.MLPSpace(10, 3, depths=(1,), widths=(4,), activations=("relu",)).sample(2, distinct=True)


def test_generated_weights_have_the_plain_modules_shapes() -> None:
    space = small_space()
    search = hn.ArchitectureSearch(space, embedding_dim=8)
    x = torch.randn(7, 10)
    for arch in space.sample(12, generator=torch.Generator().manual_seed(0), distinct=True):
        plain = space.build(arch)
        weights = search.generate(arch)
        assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in plain.state_dict().items()}
        net = search.materialize(arch)
        assert type(net) is type(plain) and [type(m) for m in net] == [type(m) for m in plain]
        assert torch.allclose(net(x), search(x, arch), atol=1e-5)
        assert all(p.requires_grad for p in net.parameters())


def test_supernet_slices_match_a_plain_module() -> None:
    space = small_space()
    supernet = MLPSupernet(space)
    arch = hn.Architecture((16, 4, 8), ("sigmoid", "relu", "tanh"))
    plain = space.build(arch)
    params = dict(supernet.named_parameters())
    plain.load_state_dict(plain_weights(params, space, arch))
    x = torch.randn(5, 10)
    assert torch.allclose(plain(x), supernet(x, arch))
    assert space.num_parameters(arch) == sum(p.numel() for p in plain.parameters())
    assert space.flops(arch) == 10 * 16 + 16 * 4 + 4 * 8 + 8 * 3


def test_fan_in_scaling_keeps_narrow_layers_at_the_wide_scale_and_matches_the_plain_module() -> None:
    space = hn.MLPSpace(10, 3, depths=(1, 2, 3), widths=(4, 8, 256), activations=("tanh",))
    torch.manual_seed(0)
    supernet = MLPSupernet(space, fan_in_scaling=True)
    params = dict(supernet.named_parameters())
    x = torch.randn(2048, 10)
    for arch in (hn.Architecture((4, 4, 4), ("tanh",) * 3), hn.Architecture((256, 4, 8), ("tanh",) * 3)):
        plain = space.build(arch)
        plain.load_state_dict(plain_weights(params, space, arch, fan_in_scaling=True))
        torch.testing.assert_close(plain(x), supernet(x, arch))
        unscaled = plain_weights(params, space, arch)
        scaled = plain_weights(params, space, arch, fan_in_scaling=True)
        previous = 10
        for i, width in enumerate(arch.widths):  # layer 0 reads every input: unchanged; the others by sqrt(256 / fan-in)
            factor = (256 / previous) ** 0.5 if i else 1.0
            torch.testing.assert_close(scaled[f"{2 * i}.weight"], unscaled[f"{2 * i}.weight"] * factor)
            torch.testing.assert_close(scaled[f"{2 * i}.bias"], unscaled[f"{2 * i}.bias"])
            previous = width
        torch.testing.assert_close(scaled["6.weight"], unscaled["6.weight"] * (256 / previous) ** 0.5)
    # the pre-activation of a 4-input layer has about the std of a 256-input one's (about 1/8 of it without scaling)
    wide, narrow = hn.Architecture((256, 256), ("tanh",) * 2), hn.Architecture((4, 256), ("tanh",) * 2)
    stds = {}
    for scaling in (False, True):
        for name, arch in (("wide", wide), ("narrow", narrow)):
            w = plain_weights(params, space, arch, fan_in_scaling=scaling)
            h = torch.tanh(x @ w["0.weight"].T + w["0.bias"])
            stds[scaling, name] = float((h @ w["2.weight"].T).detach().std())
    assert stds[True, "narrow"] / stds[True, "wide"] > 0.5
    assert stds[False, "narrow"] / stds[False, "wide"] < 0.3
    with pytest.raises(hn.ConfigError, match="fan_in_scaling"):
        MLPSupernet(space, fan_in_scaling="yes")  # type: ignore[arg-type]


def test_fit_and_rank_prefer_the_architecture_that_can_fit() -> None:
    """A label that needs several hidden units: width 16 relu must beat width 4 sigmoid after one-shot training."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 10, generator=g)
    y = ((x[:, 0] * x[:, 1] > 0).long() + (x[:, 2] > 0.5).long()).clamp(max=2)
    train = DataLoader(TensorDataset(x[:384], y[:384]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x[384:], y[384:]), batch_size=128)
    space = hn.MLPSpace(10, 3, depths=(1,), widths=(1, 16), activations=("relu", "identity"))
    search = hn.ArchitectureSearch(space, embedding_dim=8)
    result = search.fit(train, epochs=40, lr=1e-2)
    assert result.steps == 240 and "train/depth" in result.metrics
    strong, weak = hn.Architecture((16,), ("relu",)), hn.Architecture((1,), ("identity",))
    ranking = search.rank([weak, strong], val)
    assert [s.arch for s in ranking] == [strong, weak] and ranking[0].score > ranking[1].score + 0.1
    assert search.rank([weak, strong], val, metric="loss", mode="min")[0].arch == strong
    assert 0 <= search.score(weak, val) <= 1 and set(search.evaluate(weak, val)) == {"loss", "acc"}


def test_architecture_accepts_lists() -> None:
    arch = hn.Architecture([8, 4], ["relu", "tanh"])  # type: ignore[arg-type]
    assert arch == hn.Architecture((8, 4), ("relu", "tanh")) and hash(arch) and arch.depth == 2


def test_sample_is_distinct_and_reproducible() -> None:
    search = hn.ArchitectureSearch(small_space(), embedding_dim=8)
    a, b = search.sample(30, seed=3), search.sample(30, seed=3)
    assert a == b and len(set(a)) == 30 and all(isinstance(s, hn.Architecture) for s in a)


def test_depth_weights_steer_training_samples() -> None:
    space = small_space()
    deep = space.sample(20, generator=torch.Generator().manual_seed(0), depth_weights=[0, 0, 1])
    assert {a.depth for a in deep} == {3}
    assert hn.ArchitectureSearch(space, embedding_dim=8).depth_weights == (1.0, 2.0, 3.0)  # default: in proportion to the depth
    uniform = hn.ArchitectureSearch(space, embedding_dim=8, depth_weights=[1, 1, 1])
    drawn = [uniform.training_step(uniform, (torch.randn(4, 10), torch.randint(0, 3, (4,))))[1]["depth"] for _ in range(60)]
    assert set(drawn) == {1.0, 2.0, 3.0}
    for bad in ([1, 2], [1, -1, 1], [0, 0, 0], "deep"):
        with pytest.raises(hn.ConfigError, match="depth_weights"):
            hn.ArchitectureSearch(space, depth_weights=bad)  # type: ignore[arg-type]


def test_search_errors() -> None:
    space = small_space()
    with pytest.raises(hn.ConfigError, match=r"hn\.MLPSpace"):
        hn.ArchitectureSearch("mlp")  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match="embedding_dim"):
        hn.ArchitectureSearch(space, embedding_dim=0)
    with pytest.raises(hn.ConfigError, match="generator_kwargs only"):
        hn.ArchitectureSearch(space, generator_kwargs={"hidden": (8,)})
    search = hn.ArchitectureSearch(space, generator="chunked", generator_kwargs={"hidden": (8,)}, embedding_dim=8)
    val = [(torch.randn(4, 10), torch.randint(0, 3, (4,)))]
    with pytest.raises(hn.ConfigError, match="at least one candidate"):
        search.rank([], val)
    with pytest.raises(hn.ConfigError, match="metric in"):
        search.score(space.sample(1)[0], val, metric="f1")
    with pytest.raises(hn.ConfigError, match="mode"):
        search.rank(space.sample(1), val, mode="best")
    with pytest.raises(hn.ConfigError, match="lr"):
        search.fit(val, lr=-1.0)
    with pytest.raises(hn.ConfigError, match="depth in"):
        search.generate(hn.Architecture((4,) * 5, ("relu",) * 5))
