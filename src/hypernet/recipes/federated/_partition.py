"""Seeded partitions of a labelled data set into federated clients (pathological k classes, Dirichlet alpha).

Every client gets a train / validation / test split over its own classes: the test
samples of a class are shared out between the clients holding that class in the same
proportions as its training samples (the protocol of pFedHN), and the validation split
is a seeded slice of each client's training samples (used to pick the best round).

Example:
    >>> import torch
    >>> x, y = torch.randn(400, 3), torch.arange(400) % 4
    >>> clients = pathological_partition(x, y, x[:80], y[:80], num_clients=4, classes_per_client=2, seed=0)
    >>> [c.classes for c in clients] == [c.classes for c in pathological_partition(x, y, x[:80], y[:80], 4, 2, seed=0)]
    True
    >>> all(len(c.classes) == 2 and set(c.y_test.tolist()) <= set(c.classes) for c in clients)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..._boundary import guarded_function
from ..._validation import check_int, is_number
from ...errors import ConfigError, describe


@dataclass(frozen=True)
class ClientData:
    """One client's data: train / validation / test tensors, its classes and where the samples came from.

    Attributes:
        x_train, y_train, x_val, y_val, x_test, y_test: the client's own samples.
        classes: the labels this client holds (sorted).
        train_indices, test_indices: rows of the source train / test sets (train and validation together).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[int, ...]
    train_indices: torch.Tensor
    test_indices: torch.Tensor

    @property
    def num_train(self) -> int:
        """Training samples (without the validation slice)."""
        return int(self.y_train.shape[0])

    @classmethod
    def from_arrays(
        cls,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_test: torch.Tensor,
        y_test: torch.Tensor,
        x_val: torch.Tensor | None = None,
        y_val: torch.Tensor | None = None,
    ) -> ClientData:
        """One client from its own tensors (numpy arrays are converted); no validation split if ``x_val`` is not given.

        Example:
            >>> import torch
            >>> c = ClientData.from_arrays(torch.randn(8, 3), torch.tensor([0, 1] * 4), torch.randn(4, 3), torch.tensor([0, 1, 1, 0]))
            >>> c.classes, c.num_train, c.y_val.numel()
            ((0, 1), 8, 0)
        """
        if (x_val is None) != (y_val is None):
            raise ConfigError(
                f"expected both x_val and y_val or neither, got x_val {describe(x_val)} and y_val {describe(y_val)}; pass the pair"
            )
        arrays = [_tensor(a, name) for a, name in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"), (y_test, "y_test"))]
        _check_arrays(*arrays)
        if x_val is None or y_val is None:
            xv, yv = arrays[0][:0], arrays[1][:0]
        else:
            xv, yv = _tensor(x_val, "x_val"), _tensor(y_val, "y_val")
            _check_pair("validation", xv, yv)
            if xv.shape[1:] != arrays[0].shape[1:]:
                raise ConfigError(
                    f"expected x_val rows shaped like x_train's {tuple(arrays[0].shape[1:])}, got {describe(xv)}; "
                    "pass x_val with the same feature shape"
                )
        if arrays[2].shape[1:] != arrays[0].shape[1:]:
            raise ConfigError(
                f"expected x_test rows shaped like x_train's {tuple(arrays[0].shape[1:])}, got {describe(arrays[2])}; "
                "pass x_test with the same feature shape"
            )
        x_tr, y_tr, x_te, y_te = arrays
        classes = tuple(int(c) for c in torch.unique(y_tr).tolist())
        return cls(x_tr, y_tr.long(), xv, yv.long(), x_te, y_te.long(), classes, torch.arange(y_tr.shape[0]), torch.arange(y_te.shape[0]))


def _tensor(a: object, name: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
        if a.dtype == torch.float64:
            a = a.float()
    if not isinstance(a, torch.Tensor):
        raise ConfigError(f"expected {name} as a torch.Tensor or numpy array, got {describe(a)}; pass a torch.Tensor or numpy array")
    return a


def _check_pair(name: str, x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ConfigError(f"expected {name} data as tensors x (N, ...) and y (N,), got {describe(x)} and {describe(y)}; pass torch tensors")
    if y.dim() != 1 or x.dim() < 1 or x.shape[0] != y.shape[0] or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ConfigError(
            f"expected {name} x (N, ...) and integer y (N,) with the same N, got x {describe(x)} and y {describe(y)}; "
            "pass one integer label per row"
        )
    if y.numel() and int(y.min()) < 0:
        raise ConfigError(f"expected {name} labels >= 0, got {int(y.min())}; remap the labels to 0..C-1")


def _check_arrays(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor) -> int:
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        _check_pair(name, x, y)
    if y_train.numel() == 0:
        raise ConfigError("expected at least one training sample, got none; drop the client or give it data")
    n_classes = int(max(int(y_train.max()), int(y_test.max()) if y_test.numel() else 0)) + 1
    if n_classes > y_train.numel():
        raise ConfigError(
            f"expected labels 0..C-1 with C at most the {y_train.numel()} training samples, got a largest label of {n_classes - 1}; "
            "remap the labels to 0..C-1"
        )
    return n_classes


def _check_fraction(val_fraction: float) -> None:
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"expected val_fraction in [0, 1), got {val_fraction!r}; pass e.g. 0.1")


def _split_by_shares(indices: np.ndarray, shares: np.ndarray) -> list[np.ndarray]:
    """Cut ``indices`` (already shuffled) into consecutive parts proportional to ``shares``."""
    cuts = (np.cumsum(shares) / shares.sum() * len(indices)).round().astype(int)[:-1]
    return np.split(indices, cuts)


def _assemble(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    train_parts: Sequence[list[np.ndarray]],
    test_parts: Sequence[list[np.ndarray]],
    val_fraction: float,
    rng: np.random.Generator,
) -> list[ClientData]:
    clients = []
    for cid, (tr, te) in enumerate(zip(train_parts, test_parts, strict=True)):
        train_idx = rng.permutation(np.concatenate(tr)) if tr else np.zeros(0, dtype=np.int64)
        test_idx = np.sort(np.concatenate(te)) if te else np.zeros(0, dtype=np.int64)
        if len(train_idx) == 0:
            raise ConfigError(
                f"expected training samples for every client, got none for client {cid}; use fewer clients, a larger alpha or more data"
            )
        n_val = round(val_fraction * len(train_idx))
        if len(train_idx) - n_val < 1:
            raise ConfigError(
                f"expected training samples left after validation, got none of client {cid}'s {len(train_idx)}; lower val_fraction"
            )
        val_idx, fit_idx = train_idx[:n_val], train_idx[n_val:]
        t_fit, t_val, t_test = (torch.from_numpy(np.ascontiguousarray(i)).long() for i in (fit_idx, val_idx, test_idx))
        classes = tuple(int(c) for c in torch.unique(y_train[torch.from_numpy(train_idx).long()]).tolist())
        clients.append(
            ClientData(
                x_train[t_fit],
                y_train[t_fit],
                x_train[t_val],
                y_train[t_val],
                x_test[t_test],
                y_test[t_test],
                classes,
                torch.from_numpy(np.sort(train_idx)).long(),
                t_test,
            )
        )
    return clients


@guarded_function
def pathological_partition(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_clients: int,
    classes_per_client: int = 2,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> list[ClientData]:
    """Each client holds ``classes_per_client`` classes, each class is held by the same number of clients.

    A class's samples go to its clients in random shares drawn from U(0.4, 0.6) (as
    pFedHN); its test samples are shared in the same proportions.

    Raises:
        ConfigError: ``num_clients * classes_per_client`` is not a multiple of the number of
            classes, ``classes_per_client`` exceeds it, or a client would be empty.
    """
    n_classes = _check_arrays(x_train, y_train, x_test, y_test)
    _check_fraction(val_fraction)
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 1:
        raise ConfigError(f"expected num_clients to be a positive int, got {num_clients!r}; pass a positive int")
    if num_clients > len(y_train):
        raise ConfigError(
            f"expected at most one client per training sample ({len(y_train)}), got num_clients={num_clients}; use fewer clients"
        )
    if isinstance(classes_per_client, bool) or not isinstance(classes_per_client, int) or not 1 <= classes_per_client <= n_classes:
        raise ConfigError(
            f"expected classes_per_client in [1, {n_classes}] (the number of classes), got {classes_per_client!r}; "
            "pass a value in that range"
        )
    slots = num_clients * classes_per_client
    if slots % n_classes:
        raise ConfigError(
            f"expected num_clients * classes_per_client to be a multiple of the {n_classes} classes (each class held equally often), "
            f"got {num_clients} clients x {classes_per_client} classes = {slots} class slots; "
            f"use num_clients * classes_per_client divisible by {n_classes}"
        )
    rng = np.random.default_rng(seed)
    remaining = np.full(n_classes, slots // n_classes)
    owners: list[list[int]] = [[] for _ in range(n_classes)]
    client_classes: list[list[int]] = []
    for cid in range(num_clients):
        chosen: list[int] = []
        for _ in range(classes_per_client):
            free = np.array([c for c in range(n_classes) if c not in chosen])
            top = free[remaining[free] == remaining[free].max()]
            c = int(rng.choice(top))
            chosen.append(c)
            remaining[c] -= 1
            owners[c].append(cid)
        client_classes.append(sorted(chosen))
    y_tr, y_te = y_train.numpy(), y_test.numpy()
    train_parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    test_parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for c in range(n_classes):
        shares = rng.uniform(0.4, 0.6, size=len(owners[c]))
        tr = _split_by_shares(rng.permutation(np.flatnonzero(y_tr == c)), shares)
        te = _split_by_shares(rng.permutation(np.flatnonzero(y_te == c)), shares)
        for cid, a, b in zip(owners[c], tr, te, strict=True):
            train_parts[cid].append(a)
            test_parts[cid].append(b)
    return _assemble(x_train, y_train, x_test, y_test, train_parts, test_parts, val_fraction, rng)


@guarded_function
def dirichlet_partition(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_clients: int,
    alpha: float = 0.3,
    *,
    val_fraction: float = 0.1,
    min_train: int = 10,
    seed: int = 0,
    max_tries: int = 100,
) -> list[ClientData]:
    """Each class is shared out over all clients in proportions drawn from Dirichlet(``alpha``).

    Small ``alpha`` gives clients few dominant classes. Draws are repeated (seeded) until every
    client has at least ``min_train`` training samples. A client's test samples follow its
    class proportions, so it is tested on its own classes.

    Raises:
        ConfigError: ``alpha <= 0``, or no draw in ``max_tries`` gives every client ``min_train`` samples.
    """
    n_classes = _check_arrays(x_train, y_train, x_test, y_test)
    _check_fraction(val_fraction)
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 1:
        raise ConfigError(f"expected num_clients to be a positive int, got {num_clients!r}; pass a positive int")
    if num_clients > len(y_train):
        raise ConfigError(
            f"expected at most one client per training sample ({len(y_train)}), got num_clients={num_clients}; use fewer clients"
        )
    if not is_number(alpha) or not alpha > 0:
        raise ConfigError(f"expected alpha > 0, got {alpha!r}; pass a positive alpha (e.g. 0.3)")
    check_int(min_train, "min_train", low=0, owner="dirichlet_partition")
    check_int(max_tries, "max_tries", low=1, owner="dirichlet_partition")
    rng = np.random.default_rng(seed)
    y_tr, y_te = y_train.numpy(), y_test.numpy()
    for _ in range(max_tries):
        shares = rng.dirichlet(np.full(num_clients, float(alpha)), size=n_classes)  # (C, clients)
        train_parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        test_parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for c in range(n_classes):
            tr = _split_by_shares(rng.permutation(np.flatnonzero(y_tr == c)), shares[c])
            te = _split_by_shares(rng.permutation(np.flatnonzero(y_te == c)), shares[c])
            for cid in range(num_clients):
                if len(tr[cid]):
                    train_parts[cid].append(tr[cid])
                    test_parts[cid].append(te[cid])
        if min(sum(len(a) for a in parts) for parts in train_parts) >= min_train:
            return _assemble(x_train, y_train, x_test, y_test, train_parts, test_parts, val_fraction, rng)
    raise ConfigError(
        f"expected a Dirichlet(alpha={alpha}) draw giving each of {num_clients} clients >= {min_train} training samples, "
        f"got none in {max_tries} tries; "
        "use fewer clients, a larger alpha or a smaller min_train"
    )
