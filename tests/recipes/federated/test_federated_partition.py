"""Partitioners: seeded, disjoint, per-client test data over the client's own classes, clear errors."""

from __future__ import annotations

import pytest
import torch

import hypernet as hn
from hypernet.recipes.federated import dirichlet_partition, pathological_partition


def _data(n_train: int = 1000, n_test: int = 300, n_classes: int = 10) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(n_train, 5, generator=g),
        torch.arange(n_train) % n_classes,
        torch.randn(n_test, 5, generator=g),
        torch.arange(n_test) % n_classes,
    )


def _assert_disjoint_cover(clients: list, n_train: int, n_test: int) -> None:
    train = torch.cat([c.train_indices for c in clients])
    test = torch.cat([c.test_indices for c in clients])
    assert train.unique().numel() == train.numel(), "a training sample went to two clients"
    assert test.unique().numel() == test.numel(), "a test sample went to two clients"
    assert train.numel() <= n_train and test.numel() <= n_test


@pytest.mark.parametrize("make", ["pathological", "dirichlet"])
def test_partition_is_deterministic_and_disjoint(make: str) -> None:
    x, y, xt, yt = _data()

    def part(seed: int) -> list:
        if make == "pathological":
            return pathological_partition(x, y, xt, yt, num_clients=10, classes_per_client=2, seed=seed)
        return dirichlet_partition(x, y, xt, yt, num_clients=10, alpha=0.3, seed=seed)

    a, b, c = part(0), part(0), part(1)
    for ca, cb in zip(a, b, strict=True):
        assert ca.classes == cb.classes
        assert torch.equal(ca.train_indices, cb.train_indices) and torch.equal(ca.test_indices, cb.test_indices)
        assert torch.equal(ca.x_train, cb.x_train) and torch.equal(ca.y_val, cb.y_val)
    assert any(not torch.equal(ca.train_indices, cc.train_indices) for ca, cc in zip(a, c, strict=True)), "the seed changes nothing"
    _assert_disjoint_cover(a, 1000, 300)
    for client in a:
        # train, validation and test over the client's own classes only; validation is carved out of train
        assert set(client.y_train.tolist()) | set(client.y_val.tolist()) == set(client.classes)
        assert set(client.y_test.tolist()) <= set(client.classes)
        assert client.num_train + client.y_val.numel() == client.train_indices.numel()
        assert torch.equal(client.x_test, xt[client.test_indices])


def test_pathological_gives_k_classes_each_held_equally_often() -> None:
    x, y, xt, yt = _data()
    clients = pathological_partition(x, y, xt, yt, num_clients=20, classes_per_client=3, seed=4)
    assert all(len(c.classes) == 3 for c in clients)
    counts = torch.bincount(torch.tensor([k for c in clients for k in c.classes]), minlength=10)
    assert counts.tolist() == [6] * 10
    # every training sample of the data set is used (train + validation)
    assert sum(c.train_indices.numel() for c in clients) == 1000


def test_dirichlet_small_alpha_concentrates_classes() -> None:
    x, y, xt, yt = _data(4000, 400)
    few = dirichlet_partition(x, y, xt, yt, num_clients=10, alpha=0.05, seed=0)
    many = dirichlet_partition(x, y, xt, yt, num_clients=10, alpha=100.0, seed=0)

    def top_share(c: object) -> float:
        return float(torch.bincount(c.y_train, minlength=10).max() / c.y_train.numel())  # type: ignore[attr-defined]

    assert sum(map(top_share, few)) / 10 > 0.5 > sum(map(top_share, many)) / 10


def test_partition_errors_are_clear() -> None:
    x, y, xt, yt = _data()
    with pytest.raises(hn.ConfigError, match=r"to be a multiple of the 10 classes.*got 3 clients x 3 classes"):
        pathological_partition(x, y, xt, yt, num_clients=3, classes_per_client=3)
    with pytest.raises(hn.ConfigError, match=r"classes_per_client in \[1, 10\]"):
        pathological_partition(x, y, xt, yt, num_clients=10, classes_per_client=11)
    with pytest.raises(hn.ConfigError, match=r"at most one client per training sample \(10\), got num_clients=20"):
        pathological_partition(x[:10], y[:10], xt, yt, num_clients=20, classes_per_client=1)
    with pytest.raises(hn.ConfigError, match="alpha > 0"):
        dirichlet_partition(x, y, xt, yt, num_clients=5, alpha=0.0)
    with pytest.raises(hn.ConfigError, match="giving each of 50 clients"):
        dirichlet_partition(x[:100], y[:100], xt, yt, num_clients=50, alpha=0.01, min_train=10, max_tries=3)
    with pytest.raises(hn.ConfigError, match="same N"):
        pathological_partition(x, y[:5], xt, yt, num_clients=10)
    with pytest.raises(hn.ConfigError, match="val_fraction"):
        dirichlet_partition(x, y, xt, yt, num_clients=5, val_fraction=1.0)
