"""Per-sample inputs: every tensor carrying the batch travels with its samples on every path; shared= names exceptions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import hypernet as hn


class Mixer(nn.Module):
    """Uses a positional extra, a keyword mask, a nested dict and a list, and returns a dict + tuple pytree."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.gate = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, *, mask: torch.Tensor, extra: dict[str, Any]) -> dict[str, Any]:
        h = self.lin(x) * mask.unsqueeze(-1) + offset
        h = h + self.gate(extra["side"][0]) + extra["scale"]
        return {"out": h, "pair": (h.sum(-1), mask.float())}


class Lookup(nn.Module):
    """Adds a summary of a table that is the same for every sample."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + table.sum(0)


def _batch(n: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 5, 4, generator=g)
    offset = torch.randn(n, 1, 1, generator=g)
    kwargs = {
        "mask": (torch.rand(n, 5, generator=g) > 0.3).float(),
        "extra": {"side": [torch.randn(n, 5, 2, generator=g)], "scale": torch.ones(3)},
    }
    return x, offset, kwargs


def _row(v: Any, i: int, n: int) -> Any:
    if isinstance(v, torch.Tensor):
        return v[i : i + 1] if v.dim() and v.shape[0] == n else v
    if isinstance(v, dict):
        return {k: _row(w, i, n) for k, w in v.items()}
    if isinstance(v, list):
        return [_row(w, i, n) for w in v]
    return v


def _loop(model: hn.HyperModel, x: torch.Tensor, offset: torch.Tensor, kwargs: dict[str, Any], ids: torch.Tensor) -> dict[str, Any]:
    n = len(ids)
    outs = [model(x[i : i + 1], int(ids[i]), offset[i : i + 1], **_row(kwargs, i, n)) for i in range(n)]
    return {"out": torch.cat([o["out"] for o in outs]), "pair": tuple(torch.cat([o["pair"][j] for o in outs]) for j in range(2))}


@pytest.mark.parametrize(
    ("ids", "options"),
    [
        ([3, 1, 3, 0, 1, 1, 2], {}),  # grouped vmap
        ([0, 0, 0, 0, 0, 0, 1], {}),  # uneven groups: gathered vmap
        ([3, 1, 3, 0, 1, 1, 2], {"per_sample": "loop"}),
        ([3, 1, 3, 0, 1, 1, 2], {"sets_per_block": 1}),  # blocks of one set (vmap)
        ([3, 1, 3, 0, 1, 1, 2], {"sets_per_block": 2, "per_sample": "loop"}),
    ],
)
def test_every_batched_input_travels_with_its_samples(ids: list[int], options: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = hn.HyperModel(Mixer(), condition=hn.Embedding(4, 8), generator="mlp", **options)
    t = torch.tensor(ids)
    x, offset, kwargs = _batch(len(ids))
    out = model(x, t, offset, **kwargs)
    ref = _loop(model, x, offset, kwargs, t)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_shared_names_an_argument_that_stays_whole() -> None:
    torch.manual_seed(0)
    ids = torch.tensor([0, 1, 0, 2])
    x, table = torch.randn(4, 4), torch.randn(4, 4)  # table has 4 rows like the batch, by coincidence
    shared = hn.HyperModel(Lookup(), condition=hn.Embedding(3, 8), generator="mlp", shared=["table"])
    loop = torch.cat([shared(x[i : i + 1], int(ids[i]), table=table) for i in range(4)])
    torch.testing.assert_close(shared(x, ids, table=table), loop, atol=1e-5, rtol=1e-5)
    by_position = hn.HyperModel(Lookup(), condition=hn.Embedding(3, 8), generator="mlp", shared=[1])
    by_position.load_state_dict(shared.state_dict())
    torch.testing.assert_close(by_position(x, ids, table), loop, atol=1e-5, rtol=1e-5)
    # without shared= the rule splits it by rows, as documented: a different result
    split = hn.HyperModel(Lookup(), condition=hn.Embedding(3, 8), generator="mlp")
    split.load_state_dict(shared.state_dict())
    assert not torch.allclose(split(x, ids, table=table), loop, atol=1e-3)


def test_a_mapping_given_as_x_is_passed_as_keywords() -> None:
    torch.manual_seed(0)
    model = hn.HyperModel(Lookup(), condition=hn.Embedding(3, 8), generator="mlp")
    x, table, ids = torch.randn(5, 4), torch.randn(2, 4), torch.tensor([0, 1, 1, 2, 0])
    torch.testing.assert_close(model({"x": x, "table": table}, ids), model(x, ids, table), atol=0.0, rtol=0.0)
    with pytest.raises(hn.ConditionError, match=r"'table'.*one place"):
        model({"x": x, "table": table}, ids, table=table)


@pytest.mark.parametrize("ids", [[2, 2, 2], [2] * 6, [2, 3, 2]])
def test_conditions_must_match_the_batch_whatever_their_values(ids: list[int]) -> None:
    model = hn.HyperModel(nn.Linear(8, 3), condition=hn.Embedding(5, 4), generator="mlp")
    with pytest.raises(hn.ConditionError, match=r"[346] samples"):
        model(torch.randn(4, 8), torch.tensor(ids))


def test_equal_continuous_rows_must_match_the_batch() -> None:
    model = hn.HyperModel(nn.Linear(8, 3), condition=hn.Continuous(2, 4), generator="mlp")
    with pytest.raises(hn.ConditionError, match="3 samples"):
        model(torch.randn(4, 8), torch.full((3, 2), 0.5))


def test_numpy_ids_and_arrays_work_like_tensors() -> None:
    torch.manual_seed(0)
    model = hn.HyperModel(nn.Linear(8, 3), condition=hn.Embedding(5, 4), generator="mlp")
    x = torch.randn(4, 8)
    torch.testing.assert_close(model(x, np.int64(3)), model(x, 3))
    torch.testing.assert_close(model(x, np.array([1, 3, 3, 0])), model(x, torch.tensor([1, 3, 3, 0])))
    with pytest.raises(hn.ConditionError, match="integer task id array"):
        model(x, np.array([0.5, 1.0, 1.0, 1.0]))
    cont = hn.HyperModel(nn.Linear(8, 3), condition=hn.Continuous(2, 4), generator="mlp")
    rows = np.random.default_rng(0).random((4, 2))
    torch.testing.assert_close(cont(x, rows), cont(x, torch.tensor(rows, dtype=torch.float32)))


def test_an_empty_batch_with_empty_conditions_gives_an_empty_output() -> None:
    model = hn.HyperModel(nn.Linear(8, 3), condition=hn.Embedding(5, 4), generator="mlp")
    out = model(torch.randn(0, 8), torch.zeros(0, dtype=torch.long))
    assert out.shape == (0, 3)
    assert model.generate(torch.zeros(0, dtype=torch.long))["weight"].shape == (0, 3, 8)
    cont = hn.HyperModel(nn.Linear(8, 3), condition=hn.Continuous(2, 4), generator="mlp")
    assert cont(torch.randn(0, 8), torch.zeros(0, 2)).shape == (0, 3)


def test_nan_noise_draws_are_refused() -> None:
    model = hn.HyperModel(nn.Linear(8, 3), condition=hn.Noise(4), generator="mlp")
    draws = torch.randn(2, 4)
    draws[1, 2] = float("nan")
    with pytest.raises(hn.ConditionError, match="finite noise"):
        model(torch.randn(3, 8), draws)


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_a_tied_alias_in_generate_selects_the_shared_tensor() -> None:
    model = hn.HyperModel(Tied(), condition=hn.Embedding(2, 4), generator="mlp", generate="b.weight")
    assert model.spec.names == ("a.weight",)
    x = torch.randn(3, 4)
    net = model.materialize(1)
    assert net.b.weight is net.a.weight
    torch.testing.assert_close(net(x), model(x, 1), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: hn.Embedding(num=10**12, dim=8),
        lambda: hn.HyperModel(nn.Linear(4, 2), condition=hn.Embedding(3, 8), generator="chunked", generator_kwargs={"chunk_dim": 10**9}),
        lambda: hn.HyperModel(nn.Linear(4, 2), condition=hn.Embedding(3, 8), generator="chunked", generator_kwargs={"hidden": (10**9,)}),
        lambda: hn.HyperModel(nn.Linear(4, 2), condition=hn.Embedding(3, 8), generator="mlp", generator_kwargs={"hidden": (10**10,)}),
    ],
)
def test_sizes_too_large_for_memory_are_config_errors(factory: Any) -> None:
    with pytest.raises(hn.ConfigError, match="fit in memory"):
        factory()


def test_too_many_draws_are_a_condition_error() -> None:
    model = hn.HyperModel(nn.Linear(4, 2), condition=hn.Noise(8), generator="mlp")
    with pytest.raises(hn.ConditionError, match="fit in memory"):
        model(torch.randn(3, 4), None, samples=10**12)


class Scaled(nn.Module):
    """``lin(x) * scale``: a scale per output feature, the same for every sample and every support set."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * scale


@pytest.mark.parametrize("per_sample", ["auto", "loop"])
def test_grouped_support_sets_honour_shared(per_sample: str) -> None:
    torch.manual_seed(0)
    sets, support, queries = 3, 6, 5
    xs, ys = torch.randn(sets, support, 4), torch.randint(0, 2, (sets, support))
    x = torch.randn(sets, queries, 4)
    scale = torch.tensor([1.0, 10.0, 100.0])  # size 3 == number of sets, yet shared
    model = hn.HyperModel(Scaled(), condition=hn.SetEncoder(4, 2, 8), generator="mlp", shared=["scale"], per_sample=per_sample)
    out = model(x, (xs, ys), scale=scale)
    ref = torch.stack([model(x[t], (xs[t], ys[t]), scale=scale) for t in range(sets)])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    model.shared = frozenset()  # without the exception, an argument with one row per support set travels with its set
    per_set = torch.randn(sets, 1, 3)
    out = model(x, (xs, ys), scale=per_set)
    ref = torch.stack([model(x[t], (xs[t], ys[t]), scale=per_set[t]) for t in range(sets)])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


class Weighted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * w


def test_a_mapping_x_with_the_wrong_batch_length_is_refused_even_if_another_argument_matches() -> None:
    model = hn.HyperModel(Weighted(), condition=hn.Embedding(3, 8), generator="mlp")
    ids, w = torch.tensor([0, 0, 1, 1]), torch.ones(4, 1)
    for x in (torch.randn(2, 4), {"x": torch.randn(2, 4)}):
        with pytest.raises(hn.ConditionError, match="one condition per sample: x with 4 samples"):
            model(x, ids, w=w)
    assert model({"x": torch.randn(4, 4)}, ids, w=w).shape == (4, 3)


class Checked(nn.Module):
    """Takes a data-dependent branch (which vmap cannot batch) only when asked to validate."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, validate: bool = False) -> torch.Tensor:
        if validate and bool((x.abs() > 1e3).any()):
            raise ValueError("input out of range")
        return self.lin(x)


def test_vmap_fallback_is_remembered_only_after_the_loop_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    model = hn.HyperModel(Checked(), condition=hn.Embedding(3, 8), generator="mlp")
    x, ids = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="out of range"):
        model(x * 1e4, ids, validate=True)  # vmap fails, then the loop raises: nothing is remembered
    assert model._vmap_unsupported is None
    with caplog.at_level("WARNING", logger="hypernet"):
        out = model(x, ids, validate=True)  # vmap fails, the loop succeeds: loop from now on, with a warning
    assert model._vmap_unsupported is not None and "loop over unique weight sets" in caplog.text
    ref = torch.cat([model(x[i : i + 1], int(ids[i])) for i in range(6)])
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
