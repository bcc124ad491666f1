"""Baselines for personalised federated learning: local-only training, FedAvg, FedAvg + local fine-tuning.

They use the same client data, local SGD and evaluation as :class:`FederatedHypernet`, so a
benchmark compares like with like.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hypernet.recipes.federated import pathological_partition
    >>> x, y = torch.randn(240, 6), torch.arange(240) % 4
    >>> clients = pathological_partition(x, y, x[:80], y[:80], num_clients=4, classes_per_client=2)
    >>> res = fedavg(nn.Linear(6, 4), clients, rounds=2, clients_per_round=2, local_steps=2, finetune_steps=2)
    >>> res.best["round"], sorted(res.finetuned)
    (2.0, ['test_acc', 'val_acc'])
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError
from ._client import check_client_data, local_sgd
from ._partition import ClientData
from .federated_hypernet import History, accuracy, tensor_bytes


@dataclass
class BaselineResult(History):
    """A :class:`History` (rows ``round``, ``val_acc``, ``test_acc``, ``bytes``) plus, for FedAvg + fine-tuning,
    the fine-tuned clients' mean ``val_acc`` / ``test_acc`` (starting from the global model of the best round)."""

    finetuned: dict[str, float] | None = None
    extra: dict[str, float] = field(default_factory=dict)


def _mean_acc(nets: Sequence[nn.Module] | nn.Module, clients: Sequence[ClientData], split: str) -> float:
    accs = []
    for i, c in enumerate(clients):
        x, y = (c.x_val, c.y_val) if split == "val" else (c.x_test, c.y_test)
        if y.numel():
            accs.append(accuracy(nets if isinstance(nets, nn.Module) else nets[i], x, y))
    return float(np.mean(accs)) if accs else float("nan")


def _init(target: nn.Module, seed: int) -> nn.Module:
    net = copy.deepcopy(target)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in net.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
    for p in net.parameters():
        p.requires_grad_(True)
    return net


def local_only(
    target: nn.Module,
    clients: Sequence[ClientData],
    *,
    steps: int = 500,
    eval_every: int = 100,
    lr: float = 5e-3,
    momentum: float = 0.9,
    weight_decay: float = 5e-5,
    batch_size: int = 64,
    grad_clip: float | None = 50.0,
    seed: int = 0,
) -> BaselineResult:
    """Each client trains its own copy of ``target`` on its own data only; rows every ``eval_every`` local steps."""
    for i, c in enumerate(clients):
        check_client_data(c.x_train, c.y_train, f"client {i}")
    if steps < 1 or eval_every < 1:
        raise ConfigError(f"expected steps >= 1 and eval_every >= 1, got steps={steps}, eval_every={eval_every}")
    nets = [_init(target, seed) for _ in clients]
    result = BaselineResult()
    done = 0
    while done < steps:
        chunk = min(eval_every, steps - done)
        for i, c in enumerate(clients):
            params = dict(nets[i].named_parameters())
            nets[i], _ = local_sgd(
                nets[i], params, c.x_train, c.y_train, steps=chunk, lr=lr, momentum=momentum, weight_decay=weight_decay,
                batch_size=batch_size, grad_clip=grad_clip, seed=seed * 100_003 + i * 1009 + done,
            )  # fmt: skip
        done += chunk
        result.rounds.append(
            {"round": float(done), "val_acc": _mean_acc(nets, clients, "val"), "test_acc": _mean_acc(nets, clients, "test"), "bytes": 0.0}
        )
    return result


def fedavg(
    target: nn.Module,
    clients: Sequence[ClientData],
    rounds: int,
    *,
    clients_per_round: int = 5,
    local_steps: int = 50,
    eval_every: int | None = None,
    finetune_steps: int = 0,
    lr: float = 5e-3,
    momentum: float = 0.9,
    weight_decay: float = 5e-5,
    batch_size: int = 64,
    grad_clip: float | None = 50.0,
    seed: int = 0,
    train_clients: Sequence[int] | None = None,
) -> BaselineResult:
    """FedAvg (McMahan et al., 2017): a global model, averaged over the sampled clients weighted by their data.

    With ``finetune_steps > 0``, the global model of the best-validation round is then fine-tuned
    by every client for ``finetune_steps`` local steps (FedAvg + FT), reported in ``finetuned``.
    With ``train_clients``, only those take part and are evaluated; the best round's global model is
    also tested on the others (``extra["unseen_test_acc"]``).
    """
    all_clients = list(clients)
    held = [] if train_clients is None else [c for i, c in enumerate(all_clients) if i not in set(train_clients)]
    clients = all_clients if train_clients is None else [all_clients[i] for i in train_clients]
    for i, c in enumerate(clients):
        check_client_data(c.x_train, c.y_train, f"client {i}")
    if not 1 <= clients_per_round <= len(clients):
        raise ConfigError(f"expected clients_per_round in [1, {len(clients)}], got {clients_per_round}")
    eval_every = eval_every or max(rounds, 1)
    glob = _init(target, seed)
    names = [n for n, _ in glob.named_parameters()]
    model_bytes = tensor_bytes(dict(glob.named_parameters()))
    result = BaselineResult()
    best_state, best_val = None, -1.0
    kw: dict[str, Any] = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "batch_size": batch_size, "grad_clip": grad_clip}
    for r in range(1, rounds + 1):
        ids = np.random.default_rng([seed, r, 7919]).choice(len(clients), size=clients_per_round, replace=False)
        start = {n: p.detach().clone() for n, p in glob.named_parameters()}
        total = sum(int(clients[i].y_train.shape[0]) for i in ids)
        avg = {n: torch.zeros_like(v) for n, v in start.items()}
        for i in ids:
            c = clients[int(i)]
            net, _ = local_sgd(glob, start, c.x_train, c.y_train, steps=local_steps, seed=seed * 100_003 + r * 1009 + int(i), **kw)
            for n, p in net.named_parameters():
                avg[n] += p.detach() * (int(c.y_train.shape[0]) / total)
        with torch.no_grad():
            for n in names:
                glob.get_parameter(n).copy_(avg[n])
        if r % eval_every == 0 or r == rounds:
            row = {"round": float(r), "val_acc": _mean_acc(glob, clients, "val"), "test_acc": _mean_acc(glob, clients, "test")}
            row["bytes"] = 2.0 * model_bytes
            result.rounds.append(row)
            if row["val_acc"] > best_val:
                best_val, best_state = row["val_acc"], copy.deepcopy(glob.state_dict())
    start_net = copy.deepcopy(glob)
    if best_state is not None:
        start_net.load_state_dict(best_state)
    if held:
        result.extra["unseen_test_acc"] = _mean_acc(start_net, held, "test")
    if finetune_steps > 0 and best_state is not None:
        start = {n: p.detach().clone() for n, p in start_net.named_parameters()}
        tuned = [
            local_sgd(start_net, start, c.x_train, c.y_train, steps=finetune_steps, seed=seed * 7 + i, **kw)[0]
            for i, c in enumerate(clients)
        ]
        result.finetuned = {"val_acc": _mean_acc(tuned, clients, "val"), "test_acc": _mean_acc(tuned, clients, "test")}
    return result
