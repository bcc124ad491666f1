"""SplitMNIST / PermutedMNIST task sequences (on small MNIST-shaped random data) and the plain-target baselines."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn
from hypernet.data.split_mnist import permuted_mnist, permuted_tasks, split_mnist, split_tasks
from hypernet.recipes.continual.baselines import SequentialBaseline
from hypernet.recipes.continual.metrics import accuracy_matrix, backward_transfer


def fake_mnist(tmp_path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    split = (rng.random((n, 784), dtype=np.float32), (np.arange(n) % 10).astype(np.int64))
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps((split, split, split), protocol=2), mtime=0))
    return path


def test_split_mnist_has_five_pair_tasks(tmp_path: Path) -> None:
    seq = split_mnist(fake_mnist(tmp_path))
    assert seq.num_tasks == 5 and seq.classes[4] == (8, 9)
    for t in range(5):
        x, y = seq.train[t]
        assert x.shape == (120, 784) and set(y.tolist()) == {0, 1}
    assert seq.global_labels(2).unique().tolist() == [4, 5]
    xb, _ = next(iter(seq.loader(0, batch_size=16)))
    assert xb.shape == (16, 784) and seq.loader(0, train=False).batch_size == 128
    assert split_mnist(fake_mnist(tmp_path), limit=100).train[0][0].shape[0] == 20


def test_permuted_mnist_is_seeded_and_keeps_labels(tmp_path: Path) -> None:
    a = permuted_mnist(num_tasks=3, seed=1, path=fake_mnist(tmp_path))
    b = permuted_mnist(num_tasks=3, seed=1, path=fake_mnist(tmp_path))
    c = permuted_mnist(num_tasks=3, seed=2, path=fake_mnist(tmp_path), permute_first=True)
    assert all(torch.equal(p, q) for p, q in zip(a.permutations, b.permutations, strict=True))
    assert torch.equal(a.permutations[0], torch.arange(784)) and not torch.equal(c.permutations[0], torch.arange(784))
    assert not torch.equal(a.permutations[1], c.permutations[1])
    assert torch.equal(a.train[2][1], a.train[0][1]) and a.classes[0] == tuple(range(10))
    assert torch.equal(a.test[1][0][:, a.permutations[1].argsort()], a.test[0][0])


def test_task_data_errors() -> None:
    x, y = torch.rand(20, 4), torch.arange(20) % 4
    with pytest.raises(hn.DataError, match=r"x \(N, D\)"):
        split_tasks(x, y[:3], x, y)
    with pytest.raises(hn.DataError, match="no"):
        split_tasks(x, y, x, y, pairs=((0, 1), (7, 8)))
    with pytest.raises(hn.DataError, match="num_tasks"):
        permuted_tasks(x, y, x, y, num_tasks=0)


def test_metrics() -> None:
    acc = accuracy_matrix([{0: 1.0}, {0: 0.5, 1: 0.9}, {0: 0.7, 1: 0.8, 2: 1.0}])
    assert acc.shape == (3, 3) and acc[0, 1].isnan()
    assert backward_transfer(acc) == pytest.approx(((0.7 - 1.0) + (0.8 - 0.9)) / 2)
    assert backward_transfer(acc[:1]) != backward_transfer(acc[:1])


def two_tasks() -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    x = torch.randn(200, 6)
    return [(x, (x[:, 0] > 0).long()), (x, (x[:, 1] * x[:, 2] > 0).long())]  # task 1 needs other hidden features


def run(method: str, **kw: float) -> SequentialBaseline:
    torch.manual_seed(0)
    tasks = two_tasks()
    base = SequentialBaseline(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 4)), 2, 2, method, lr=0.02, **kw)  # type: ignore[arg-type]
    tests = [[t] for t in tasks]
    if method == "joint":
        x = torch.cat([t[0] for t in tasks])
        y = torch.cat([t[1] for t in tasks])
        task = torch.cat([torch.full((200,), i) for i in range(2)])
        base.fit_joint(DataLoader(TensorDataset(x, y, task), batch_size=50, shuffle=True), epochs=10, eval_loaders=tests)
    else:
        for i, (x, y) in enumerate(tasks):
            base.fit_task(i, DataLoader(TensorDataset(x, y), batch_size=50), epochs=10, eval_loaders=tests)
    return base


def test_baselines_forget_ewc_protects_joint_learns_all() -> None:
    fine = run("finetune")
    ewc = run("ewc", ewc_lambda=500.0)
    joint = run("joint")
    assert fine.accuracy_matrix[0, 0] > 0.9 and joint.accuracy_matrix[-1, 0] > 0.9
    assert fine.backward_transfer() < -0.1  # the shared hidden layer drifts (measured: -0.27)
    assert ewc.backward_transfer() > fine.backward_transfer() + 0.1  # EWC keeps it (measured: 0.0)
    pred = fine.predict(two_tasks()[0][0])
    assert set(pred.task.tolist()) <= {0, 1} and pred.entropy.shape == (2, 200)
    with pytest.raises(hn.ConfigError, match="fit_joint"):
        fine.fit_joint([])
    with pytest.raises(hn.ConfigError, match="fit_task"):
        joint.fit_task(0, [])
    with pytest.raises(hn.ConfigError, match="method"):
        SequentialBaseline(nn.Linear(2, 2), 1, 2, "replay")
    with pytest.raises(hn.HypernetError, match="task"):
        joint.fit_joint([(torch.rand(2, 6), torch.zeros(2, dtype=torch.long))])
