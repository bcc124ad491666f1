"""Static-hypernetwork compression: sizing to a ratio, the compression property, materialize, and the "ha" generator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.compression import trainable_parameters
from hypernet.recipes.compression.train import _param_groups, as_dataset, error_rate


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 16, 3),
    )


def test_compression_property_equals_the_counted_ratio() -> None:
    target = small_cnn()
    model = hn.static_hypernet(target, ratio=3, generator_kwargs={"block_size": 9})
    generator = sum(p.numel() for p in model.generator.parameters())
    condition = sum(p.numel() for p in model.condition.parameters())
    generated = sum(p.numel() for p in target.parameters())  # generate="all": every target tensor
    assert model.compression == pytest.approx((generator + condition) / generated)
    assert trainable_parameters(model) == generator + condition
    assert trainable_parameters(model) <= generated / 3


@pytest.mark.parametrize("generator", ["ha", "chunked"])
def test_static_hypernet_takes_the_largest_size_within_budget(generator: str) -> None:
    budget = trainable_parameters(small_cnn()) / 2
    model = hn.static_hypernet(small_cnn(), ratio=2, generator=generator, generate="*.weight")
    arg, as_tuple = hn.recipes.compression.SIZE_ARGS[generator]
    size = getattr(model.generator, arg)
    size = size[-1] if as_tuple else size
    bigger = hn.create_generator(generator, **{arg: (size + 1,) if as_tuple else size + 1})
    larger = hn.HyperModel(small_cnn(), condition=hn.Static(4), generator=bigger, generate="*.weight")
    assert trainable_parameters(model) <= budget < trainable_parameters(larger)
    assert isinstance(model.condition, hn.Static)


def test_static_hypernet_errors_say_what_to_do() -> None:
    with pytest.raises(hn.ConfigError, match="positive number"):
        hn.static_hypernet(small_cnn(), ratio=0)
    with pytest.raises(hn.ConfigError, match=r"nn\.Module"):
        hn.static_hypernet("cnn", ratio=2)  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match="smaller ratio"):
        hn.static_hypernet(small_cnn(), ratio=500)
    with pytest.raises(hn.ConfigError, match="size_arg"):
        hn.static_hypernet(small_cnn(), generator="custom")
    with pytest.raises(hn.ConfigError, match="chooses it"):
        hn.static_hypernet(small_cnn(), generator_kwargs={"block_dim": 3})
    model = hn.static_hypernet(
        small_cnn(), ratio=1, generator="ha", size_arg="hidden", generator_kwargs={"block_dim": 2, "activation": True}
    )
    assert model.generator.block_dim == 2 and model.generator.hidden > 2
    with pytest.raises(hn.ConfigError, match="rank=1"):  # residual: the trainable copy w0 alone is as large as the target
        hn.static_hypernet(small_cnn(), ratio=2, generator="lowrank")


def test_materialized_model_equals_the_hypernetwork_output() -> None:
    model = hn.static_hypernet(small_cnn(), ratio=2, generator_kwargs={"block_size": 9, "per_tensor": True})
    x = torch.randn(5, 1, 8, 8)
    net = model.materialize()
    assert type(net) is nn.Sequential and all(p.requires_grad for p in net.parameters())
    torch.testing.assert_close(net(x), model(x), atol=1e-6, rtol=1e-6)
    weights = model.generate()
    for name, p in net.named_parameters():
        torch.testing.assert_close(p, weights[name])


def test_compress_trains_and_materializes() -> None:
    x = torch.randn(256, 10)
    y = (x[:, 0] + x[:, 1] > 0).long()
    target = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    done = hn.compress(target, (x, y), ratio=3, generator_kwargs={"block_size": 16}, epochs=8, batch_size=32, lr=0.1)
    assert done.ratio >= 3 and done.target_parameters == 10 * 32 + 32 + 32 * 2 + 2
    assert done.hyper_parameters == trainable_parameters(done.model) and done.fit.steps == 64
    assert not done.model.training and error_rate(done.net, x, y) < 0.1
    torch.testing.assert_close(done.net(x), done.model(x), atol=1e-5, rtol=1e-5)


def test_shared_parameters_get_their_own_learning_rate() -> None:
    model = hn.static_hypernet(small_cnn(), ratio=2, generate="*.weight")
    hyper, shared = _param_groups(model, 0.1, 3e-3)
    assert shared["lr"] == 3e-3 and {id(p) for p in shared["params"]} == {id(p) for n, p in model.target.named_parameters() if "bias" in n}
    assert hyper["lr"] == 0.1 and len(hyper["params"]) + len(shared["params"]) == len([p for p in model.parameters() if p.requires_grad])
    assert len(_param_groups(model, 0.1, None)) == 1 and len(_param_groups(small_cnn(), 0.1, 3e-3)) == 1


def test_training_data_is_checked() -> None:
    with pytest.raises(hn.ConfigError, match="pair"):
        as_dataset((torch.zeros(3, 2), torch.zeros(4)))
    with pytest.raises(hn.ConfigError, match="Dataset"):
        as_dataset([1, 2])  # type: ignore[arg-type]


def test_ha_blocks_follow_pytorch_layout() -> None:
    """With one block per row of a Linear weight, block b fills row b of the (out, in) weight (storage is transposed)."""
    gen = hn.create_generator("ha", block_size=4, block_dim=3, decorrelate=False)
    model = hn.HyperModel(nn.Linear(4, 3, bias=False), condition=hn.Static(2), generator=gen, init="default")
    assert gen.num_blocks == 3 and gen.hidden == 3
    with torch.no_grad():
        gen.blocks.copy_(torch.eye(3))
        gen.code.weight.zero_()
        gen.code.weight[:, :3] = torch.eye(3)
        gen.code.bias.zero_()
        gen.out[0].weight.copy_(torch.arange(1.0, 4.0).expand(4, 3))
        gen.out[0].bias.zero_()
    expected = torch.arange(1.0, 4.0)[:, None].expand(3, 4)
    torch.testing.assert_close(model.generate()["weight"], expected)


def test_ha_sizes_and_options() -> None:
    target = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    shared = hn.create_generator("ha", block_size=9, block_dim=2, hidden=5, activation=True)
    hn.HyperModel(target, condition=hn.Static(3), generator=shared)
    blocks = 8 + 1 + 1 + 1  # conv weight 72/9, conv bias, linear weight, linear bias (each padded to 9)
    assert shared.num_blocks == blocks and len(shared.out) == 1
    assert shared.num_parameters == blocks * 2 + (2 + 3) * 5 + 5 + 5 * 9 + 9
    per_tensor = hn.create_generator("ha", block_size=9, block_dim=2, per_tensor=True)
    hn.HyperModel(nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4, 2)), condition=hn.Static(3), generator=per_tensor)
    assert len(per_tensor.out) == 4 and "num_blocks=11" in repr(per_tensor)
    assert "unbound" in repr(hn.create_generator("ha"))
    with pytest.raises(hn.ConfigError, match="block_size"):
        hn.create_generator("ha", block_size=0)
