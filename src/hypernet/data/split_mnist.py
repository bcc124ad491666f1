"""Continual-learning task sequences on MNIST: SplitMNIST (5 digit-pair tasks) and PermutedMNIST-10.

Both are built from full MNIST (:func:`hypernet.data.load_mnist`, train + valid = 60,000
training images, 10,000 test images) or from any tensors you pass, so tests and users with
their own copy need no download.

* **SplitMNIST**: task ``t`` tells apart the digits of pair ``t`` ((0,1), (2,3), ..., (8,9));
  labels are 0 / 1 inside the pair (a 2-unit output), ``classes[t]`` gives the digits back.
* **PermutedMNIST**: task ``t`` is 10-way MNIST with the pixels shuffled by a fixed
  permutation drawn from ``seed``; task 0 keeps the original pixel order unless
  ``permute_first=True``.

Example:
    >>> import torch
    >>> x, y = torch.rand(40, 784), torch.arange(40) % 10
    >>> seq = split_tasks(x, y, x, y)
    >>> seq.num_tasks, seq.train[1][0].shape, seq.classes[1], sorted(set(seq.train[1][1].tolist()))
    (5, torch.Size([8, 784]), (2, 3), [0, 1])
    >>> perm = permuted_tasks(x, y, x, y, num_tasks=3, seed=0)
    >>> torch.equal(perm.train[0][0], x), torch.equal(perm.train[2][0], x[:, perm.permutations[2]])
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from .._validation import check_int
from .digits import PAIRS
from .errors import DataError
from .mnist import load_mnist

Split = tuple[torch.Tensor, torch.Tensor]


@dataclass
class TaskSequence:
    """A sequence of classification tasks, each with its own train and test split.

    Attributes:
        name: ``"splitmnist"``, ``"permutedmnist"`` or your own.
        train, test: per task, ``(x, y)`` with ``x`` float ``(N, D)`` and ``y`` int64 labels *inside* the task.
        classes: per task, the global class of each local label (SplitMNIST: the digit pair).
        permutations: per task, the pixel permutation applied (PermutedMNIST), else empty.
    """

    name: str
    train: list[Split]
    test: list[Split]
    classes: list[tuple[int, ...]]
    permutations: list[torch.Tensor] = field(default_factory=list)

    @property
    def num_tasks(self) -> int:
        """How many tasks."""
        return len(self.train)

    def loader(self, task: int, batch_size: int = 128, train: bool = True, seed: int = 0) -> DataLoader[tuple[torch.Tensor, ...]]:
        """A ``DataLoader`` of ``(x, y)`` batches of ``task``; training loaders shuffle with a generator seeded by ``seed``."""
        x, y = (self.train if train else self.test)[task]
        generator = torch.Generator().manual_seed(seed) if train else None
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=train, generator=generator)

    def global_labels(self, task: int, train: bool = False) -> torch.Tensor:
        """Class-incremental labels of ``task``: the global class index ``offset(task) + y`` (offsets add up the tasks' class counts)."""
        offset = sum(len(c) for c in self.classes[:task])
        return (self.train if train else self.test)[task][1] + offset


def _check_xy(x: torch.Tensor, y: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.dim() != 2 or y.shape != (x.shape[0],):
        got_x = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        got_y = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise DataError(f"expected {name} as x (N, D) and y (N,) tensors, got x {got_x} and y {got_y}; flatten images to (N, D) first")


def split_tasks(
    x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, pairs: tuple[tuple[int, ...], ...] = PAIRS
) -> TaskSequence:
    """SplitMNIST-style tasks from any labelled data: task ``t`` holds the classes ``pairs[t]``, relabelled 0, 1, ...

    Raises:
        DataError: malformed tensors, or a task without training samples.
    """
    _check_xy(x_train, y_train, "training data")
    _check_xy(x_test, y_test, "test data")
    train: list[Split] = []
    test: list[Split] = []
    for t, group in enumerate(pairs):
        for (x, y), out, kind in (((x_train, y_train), train, "training"), ((x_test, y_test), test, "test")):
            keep = torch.zeros_like(y, dtype=torch.bool)
            local = torch.zeros_like(y)
            for j, c in enumerate(group):
                keep |= y == c
                local[y == c] = j
            if kind == "training" and not bool(keep.any()):
                raise DataError(f"expected training samples of classes {group} for task {t}, got none; check the labels or the pairs")
            out.append((x[keep], local[keep]))
    return TaskSequence("splitmnist", train, test, [tuple(g) for g in pairs])


def permuted_tasks(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_tasks: int = 10,
    seed: int = 0,
    permute_first: bool = False,
) -> TaskSequence:
    """PermutedMNIST-style tasks: the same data with the features shuffled by one fixed permutation per task.

    The permutations come from a ``torch.Generator`` seeded with ``seed`` (the same seed gives the
    same tasks on every machine); task 0 is the identity unless ``permute_first``.
    """
    _check_xy(x_train, y_train, "training data")
    _check_xy(x_test, y_test, "test data")
    check_int(num_tasks, "num_tasks", low=1, error=DataError)
    dim = x_train.shape[1]
    gen = torch.Generator().manual_seed(seed)
    perms = [torch.randperm(dim, generator=gen) for _ in range(num_tasks)]
    if not permute_first:
        perms[0] = torch.arange(dim)
    n_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    train = [(x_train[:, p], y_train) for p in perms]
    test = [(x_test[:, p], y_test) for p in perms]
    return TaskSequence("permutedmnist", train, test, [tuple(range(n_classes))] * num_tasks, perms)


def _mnist(path: str | Path | None, limit: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_mnist(path)
    x_train, y_train = torch.cat([data.x_train, data.x_valid]), torch.cat([data.y_train, data.y_valid])
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return x_train, y_train, data.x_test, data.y_test


def split_mnist(path: str | Path | None = None, pairs: tuple[tuple[int, ...], ...] = PAIRS, limit: int | None = None) -> TaskSequence:
    """SplitMNIST: 5 tasks of digit pairs from full MNIST (``limit`` keeps the first N training images).

    Raises:
        DataError: MNIST is missing (run ``hypernet data fetch mnist``) or unreadable.
    """
    return split_tasks(*_mnist(path, limit), pairs=pairs)


def permuted_mnist(
    num_tasks: int = 10, seed: int = 0, path: str | Path | None = None, limit: int | None = None, permute_first: bool = False
) -> TaskSequence:
    """PermutedMNIST-``num_tasks`` from full MNIST with permutations seeded by ``seed``.

    Raises:
        DataError: MNIST is missing (run ``hypernet data fetch mnist``) or unreadable.
    """
    return permuted_tasks(*_mnist(path, limit), num_tasks=num_tasks, seed=seed, permute_first=permute_first)
