"""HyperparameterSweep: the curve on a problem with a known answer, batched per-sample training, hyper-step, API."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn
from hypernet.generators.gated import GatedGenerator


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models: one thread avoids oversubscription on a shared machine (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ce_loss(out: torch.Tensor, y: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
    return F.cross_entropy(out, y, reduction="none")


def mlp(d_in: int = 10, hidden: int = 64) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def noise_problem(n: int = 256, d: int = 10) -> tuple[DataLoader, DataLoader]:
    """Pure-noise labels: nothing generalises, so the best validation loss needs strong L2 (output ~ uniform)."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, d, generator=g), torch.randint(0, 2, (n,), generator=g)
    xv, yv = torch.randn(n, d, generator=g), torch.randint(0, 2, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True), DataLoader(TensorDataset(xv, yv), batch_size=256)


def test_curve_orders_strong_and_no_l2_on_noise_labels() -> None:
    train, val = noise_problem(n=128)
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1.0)}, weight_decay="l2")
    sweep.fit(train, epochs=100, lr=1e-2)
    curve = sweep.curve([1e-4, 1.0], val)  # (almost) no L2 vs strong L2
    none, strong = curve.metrics["loss"]
    assert strong < math.log(2) + 0.02 < none - 0.1  # memorised noise generalises worse than a (near) uniform output
    assert sweep.best() == {"l2": 1.0}
    fit_train = sweep.curve([1e-4, 1.0], train).metrics["acc"]
    assert fit_train[0] > fit_train[1] + 0.15  # without L2 the model does memorise the training labels


def test_training_step_is_one_batched_call_with_per_sample_conditions() -> None:
    train, _ = noise_problem(n=64)
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1e-1)}, weight_decay="l2", per_batch=4)
    conds: list[torch.Tensor] = []
    target_calls: list[int] = []
    generate = sweep.model.weights

    def recording(cond: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        conds.append(cond.detach().clone())
        return generate(cond, *args, **kwargs)

    sweep.model.weights = recording  # type: ignore[method-assign]  # the weights are generated once per step
    sweep.model.target.register_forward_hook(lambda m, a, o: target_calls.append(1))
    result = sweep.fit(train, epochs=1)
    assert result.steps == 1 and len(conds) == 1 and len(target_calls) == 1  # no loop over samples or values
    cond = conds[0]
    assert cond.shape == (64, 1) and torch.unique(cond, dim=0).shape[0] == 4
    assert result.metrics["train/weight_decay"] > 0


def test_sample_unit_is_stratified() -> None:
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"a": hn.Uniform(0, 1), "b": hn.LogUniform(1e-3, 1)}, per_batch=5)
    unit = sweep.sample_unit(12)
    values = torch.unique(unit, dim=0)
    assert unit.shape == (12, 2) and values.shape[0] == 5
    for dim in range(2):  # a Latin hypercube: one value in each fifth of every axis
        assert sorted((values[:, dim] * 5).floor().long().tolist()) == [0, 1, 2, 3, 4]
    assert sweep.sample_unit(3).unique(dim=0).shape[0] == 3  # never more values than samples


def test_weight_decay_is_per_sample_l2_of_generated_matrices() -> None:
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-3, 1.0)}, weight_decay="l2")
    x = torch.randn(4, 10)
    unit = torch.tensor([[0.0], [0.0], [0.0], [1.0]])
    _, decay = sweep(x, unit=unit, with_weight_decay=True)
    expected = 0.0
    for u, share in ((0.0, 0.75), (1.0, 0.25)):
        lam = 1e-3 if u == 0.0 else 1.0
        net = sweep.materialize(lam)
        expected += share * lam * sum(float(p.detach().square().sum()) for p in net.parameters() if p.dim() >= 2)
    assert float(decay.detach()) == pytest.approx(expected, rel=1e-4)


def test_materialize_generate_and_forward_agree() -> None:
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1e-1), "s": hn.Uniform(0.0, 0.3)})
    x = torch.randn(5, 10)
    hp = {"l2": 3e-3, "s": 0.1}
    net = sweep.materialize(hp)
    assert isinstance(net, nn.Sequential)
    assert torch.allclose(net(x), sweep(x, hp), atol=1e-5)
    weights = sweep.generate(hp)
    assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in net.state_dict().items()}


def test_two_dimensional_space_curve() -> None:
    train, val = noise_problem(n=64)

    def smoothed(out: torch.Tensor, y: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
        logp = out.log_softmax(-1)
        eps = hp["smoothing"]
        return -(1 - eps) * logp.gather(1, y[:, None]).squeeze(1) - eps * logp.mean(-1)

    space = {"l2": hn.LogUniform(1e-4, 1e-1), "smoothing": hn.Uniform(0.0, 0.3)}
    sweep = hn.HyperparameterSweep(mlp(), smoothed, space, weight_decay="l2", per_batch=3)
    sweep.fit(train, epochs=2)
    curve = sweep.curve(3, val)  # a 3 x 3 grid
    assert len(curve) == 9 and curve.to_numpy().shape == (9, 4)
    assert curve.columns == ["l2", "smoothing", "loss", "acc"]
    pairs = sweep.curve({"l2": [1e-4, 1e-2], "smoothing": [0.0, 0.3]}, val)
    assert pairs.points == [{"l2": 1e-4, "smoothing": 0.0}, {"l2": 1e-2, "smoothing": 0.3}]


def test_hyper_step_moves_l2_towards_the_optimum() -> None:
    train, val = noise_problem(n=128)
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1.0)}, weight_decay="l2")
    step = hn.HyperStep(val, every=2, lr=0.05, width=0.1, start={"l2": 1e-3})
    sweep.fit(train, epochs=60, lr=1e-2, hyper_step=step)
    assert len(sweep.hyper_history_) == 60
    assert sweep.hp_["l2"] > 1e-2  # noise labels: the validation loss wants strong regularisation
    assert sweep.local_width is None  # training samples the whole range again afterwards
    again = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1.0)}, weight_decay="l2")
    again.load_state_dict(sweep.state_dict())  # the estimate and its Adam state are buffers: checkpoints carry them
    assert again.hp_ == pytest.approx(sweep.hp_)


def test_train_single_trains_a_plain_copy_with_the_same_objective() -> None:
    train, val = noise_problem(n=64)
    sweep = hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1.0)}, weight_decay="l2")
    weak = sweep.train_single(1e-4, train, epochs=20, lr=1e-2)
    strong = sweep.train_single(1.0, train, epochs=20, lr=1e-2)
    norm = lambda net: sum(float(p.detach().square().sum()) for p in net.parameters() if p.dim() >= 2)  # noqa: E731
    assert norm(strong) < 0.2 * norm(weak)
    scores = hn.recipes.hyperparameters.evaluate_module(strong, val, sweep.metrics)
    assert set(scores) == {"loss", "acc"}


def test_gated_generator_starts_at_target_scale_and_gets_gradients() -> None:
    target = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    model = hn.HyperModel(target, condition=hn.Continuous(2, 8, encoding="mip"), generator=GatedGenerator(hidden=(16,)), init="mip")
    x = torch.randn(6, 1, 6, 6)
    cond = torch.rand(6, 2)
    model(x, cond).square().sum().backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    with torch.no_grad():
        delta = model.flat_weights(torch.rand(64, 2)) - model.base[: model.spec.numel]
    own = {n: p for n, p in target.named_parameters()}
    for t in model.spec.tensors:  # mip: the generated delta starts at half the hyperfan std, within 2x of the default init
        ratio = float(delta[:, t.offset : t.offset + t.numel].std()) / float(own[t.name].detach().std())
        assert 0.25 < ratio < 2.0, (t.name, ratio)
    model.generator.zero_output_()
    assert torch.count_nonzero(model.generator(torch.randn(3, 8))) == 0


def test_gated_generator_with_several_directions() -> None:
    target = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    gen = GatedGenerator(hidden=(8,), rank=3)
    model = hn.HyperModel(target, condition=hn.Continuous(1, 4, encoding="mip"), generator=gen, init="mip")
    assert gen.values[0].shape == (3, 5, 7) and "rank=3" in repr(gen)  # Linear weights are stored (in, out)
    out = gen(torch.randn(16, 4))
    assert out.shape == (16, model.spec.numel) and 0.5 < float(out.detach().std()) < 2.0  # unit scale, as calibrated
    with pytest.raises(hn.ConfigError, match="rank"):
        GatedGenerator(rank=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight_decay": "nope"}, "weight_decay to name a hyperparameter"),
        ({"per_batch": 0}, "per_batch"),
        ({"metrics": {}}, "metrics"),
        ({"generator_kwargs": {"hidden": (8,)}}, "generator_kwargs only with a generator name"),
    ],
)
def test_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(hn.ConfigError, match=match):
        hn.HyperparameterSweep(mlp(), ce_loss, {"l2": hn.LogUniform(1e-4, 1e-1)}, **kwargs)


def test_input_errors() -> None:
    with pytest.raises(hn.ConfigError, match="non-empty dict"):
        hn.HyperparameterSweep(mlp(), ce_loss, {})
    with pytest.raises(hn.ConfigError, match=r"hn\.Uniform"):
        hn.HyperparameterSweep(mlp(), ce_loss, {"l2": (1e-4, 1e-1)})  # type: ignore[dict-item]
    with pytest.raises(hn.ConfigError, match="callable"):
        hn.HyperparameterSweep(mlp(), "ce", {"l2": hn.LogUniform(1e-4, 1e-1)})  # type: ignore[arg-type]
    sweep = hn.HyperparameterSweep(mlp(), lambda out, y, hp: out.sum(1, keepdim=True), {"l2": hn.LogUniform(1e-4, 1e-1)})
    x = torch.randn(3, 10)
    with pytest.raises(hn.ConditionError, match=r"l2 in \[0.0001, 0.1\]"):
        sweep(x, 1.0)
    with pytest.raises(hn.ConditionError, match="exactly one of hp= or unit="):
        sweep(x, 1e-3, unit=torch.tensor([0.5]))
    with pytest.raises(hn.ConditionError, match="values for exactly"):
        sweep(x, {"l1": 1e-3})
    with pytest.raises(hn.HypernetError, match=r"call sweep\.curve"):
        sweep.best()
    train, _ = noise_problem(n=8)
    with pytest.raises(hn.ConfigError, match="scalar or \\(8,\\) per-sample"):
        sweep.fit(train)
    with pytest.raises(hn.ConfigError, match="lr to be a float > 0"):
        sweep.fit(train, lr=0)
    with pytest.raises(hn.ConfigError, match="HyperStep"):
        sweep.fit(train, hyper_step="yes")  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match="every"):
        hn.HyperStep(train, every=0)
    with pytest.raises(hn.ConfigError, match="width"):
        hn.HyperStep(train, width=-1.0)


def test_ranges_and_space() -> None:
    log = hn.LogUniform(1e-5, 1e-1)
    values = torch.tensor([1e-5, 1e-3, 1e-1], dtype=torch.float64)
    assert torch.allclose(log.to_unit(values), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    assert torch.allclose(log.from_unit(log.to_unit(values)), values)
    assert hn.Uniform(0, 1) == hn.Uniform(0.0, 1.0) != hn.LogUniform(0.5, 1.0) and repr(log) == "LogUniform(1e-05, 0.1)"
    with pytest.raises(hn.ConfigError, match="0 < low"):
        hn.LogUniform(0.0, 1.0)
    with pytest.raises(hn.ConfigError, match="low < high"):
        hn.Uniform(1.0, 1.0)
    with pytest.raises(hn.ConfigError, match="grid size"):
        log.grid(0)
    space = hn.recipes.hyperparameters.HyperparameterSpace(log)
    assert space.names == ["hp"] and space.points([1e-3]) == [{"hp": 1e-3}] and len(space.points(4)) == 4
    with pytest.raises(hn.ConditionError, match="equal-length"):
        space.points({"hp": [1e-3], "x": 3})
    with pytest.raises(hn.ConditionError, match="grid size"):
        space.points("many")
    with pytest.raises(hn.ConditionError, match="last dim of 1"):
        space.from_unit(torch.zeros(3, 2))


def test_curve_object() -> None:
    curve = hn.Curve([{"a": 1.0}, {"a": 2.0}], {"loss": [0.3, float("nan")]})
    assert curve.best() == {"a": 1.0} and curve.best(mode="max") == {"a": 1.0}  # NaN is never best
    assert curve.values().tolist() == [1.0, 2.0] and "2 points" in repr(curve)
    with pytest.raises(hn.ConfigError, match="metric in"):
        curve.best("acc")
    with pytest.raises(hn.ConfigError, match="mode"):
        curve.best(mode="median")
    with pytest.raises(hn.ConfigError, match="one value per point"):
        hn.Curve([{"a": 1.0}], {"loss": [1.0, 2.0]})
    with pytest.raises(hn.ConfigError, match="hyperparameter name"):
        hn.Curve([{"a": 1.0, "b": 2.0}], {"loss": [1.0]}).values()
