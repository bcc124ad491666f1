"""Baselines for personalised federated learning: local-only training, FedAvg, FedAvg + local fine-tuning.

They use the same client data, local SGD and evaluation as :class:`FederatedHypernet`, so a
benchmark compares like with like. Clients' local SGD runs batched over clients (one
``torch.func.vmap`` per step, :func:`~hypernet.recipes.federated._batched.batched_local_sgd`):
local-only training of every client and FedAvg's local steps are the same computation.
Personal models (local-only, fine-tuning) stop early on each client's own validation split
and are tested once, at that client's best validation step.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hypernet.recipes.federated import pathological_partition
    >>> x, y = torch.randn(240, 6), torch.arange(240) % 4
    >>> clients = pathological_partition(x, y, x[:80], y[:80], num_clients=4, classes_per_client=2)
    >>> res = fedavg(nn.Linear(6, 4), clients, rounds=2, clients_per_round=2, local_steps=2, finetune_steps=2)
    >>> res.best["round"], sorted(res.finetuned)
    (2.0, ['steps', 'test_acc', 'val_acc'])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..._boundary import guarded_function
from ...errors import ConfigError, describe
from ._batched import ClientPool, Weights, batched_local_sgd
from ._client import check_client_data
from ._inputs import as_clients, positive_int
from ._partition import ClientData
from .federated_hypernet import History, tensor_bytes


@dataclass
class BaselineResult(History):
    """A :class:`History` (rows ``round``, ``val_acc``, ``test_acc``, ``bytes``, ``steps``) plus:

    Attributes:
        final: personal models (local-only): mean over clients of each client's best validation
            accuracy, its test accuracy there, and the client SGD steps spent (``best`` returns it).
        finetuned: FedAvg + fine-tuning, the same for the fine-tuned clients (from the best global model);
            ``finetune_rounds`` their validation curve; ``best_weights`` FedAvg's global model at its best round.
        extra: ``steps`` (client SGD steps of training), ``unseen_test_acc`` (FedAvg's global model on held-out clients).
    """

    final: dict[str, float] | None = None
    finetuned: dict[str, float] | None = None
    finetune_rounds: list[dict[str, float]] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, float]:
        return self.final if self.final is not None else super().best


def _acc(template: nn.Module, weights: Weights, x: torch.Tensor, y: torch.Tensor) -> float:
    if y.numel() == 0:
        return math.nan
    with torch.no_grad():
        was = template.training
        template.eval()
        try:
            out = torch.cat([torch.func.functional_call(template, weights, (x[i : i + 1024],)) for i in range(0, len(y), 1024)])
        finally:
            template.train(was)
    return float((out.argmax(1) == y).float().mean())


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


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


@guarded_function
def train_personal(
    template: nn.Module,
    start: Weights,
    clients: Sequence[ClientData],
    *,
    steps: int,
    eval_every: int,
    patience: int | None,
    sgd: dict[str, Any],
    seed: int,
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Every client trains its own model from ``start`` (stacked ``(C, ...)``), all clients batched, each stopping
    early on its own validation accuracy (after ``patience`` evaluations without improvement; ``None``: never).

    Returns the rows (mean validation accuracy of the clients' current models, client SGD steps so far) and
    the summary: mean best validation accuracy, mean test accuracy at each client's best, steps spent.
    """
    positive_int("steps", steps, zero=True)
    positive_int("eval_every", eval_every)
    if patience is not None:
        positive_int("patience", patience)
    positive_int("seed", seed, zero=True)
    if not isinstance(sgd, Mapping):
        raise ConfigError(f"expected sgd to be a dict of SGD settings, got {describe(sgd)}; pass e.g. {{'lr': 0.01, 'batch_size': 64}}")
    clients = as_clients(clients)
    n = len(clients)
    pool = ClientPool([(c.x_train, c.y_train) for c in clients])
    params = {k: v.detach().clone() for k, v in start.items()}
    bufs: Weights | None = None
    best_val, best_w, since = [-1.0] * n, [dict[str, torch.Tensor]() for _ in range(n)], [0] * n
    current = [math.nan] * n

    def check(i: int) -> None:
        w = {k: v[i] for k, v in params.items()}
        current[i] = _acc(template, w, clients[i].x_val, clients[i].y_val)
        if math.isnan(current[i]) or current[i] > best_val[i]:
            best_val[i], best_w[i], since[i] = current[i], {k: v.clone() for k, v in w.items()}, 0
        else:
            since[i] += 1

    for i in range(n):
        check(i)
    rows = [{"round": 0.0, "val_acc": _mean(current), "test_acc": math.nan, "bytes": 0.0, "steps": 0.0}]
    active, done, spent = list(range(n)), 0, 0
    while active and done < steps:
        chunk = min(eval_every, steps - done)
        idx = torch.tensor(active)
        sub = {k: v[idx] for k, v in params.items()}
        seeds = [seed * 100_003 + i * 1009 + done for i in active]
        old = None if bufs is None else {k: v[idx] for k, v in bufs.items()}
        out, _, nb = batched_local_sgd(template, sub, pool, active, seeds=seeds, steps=chunk, momentum_buffers=old, **sgd)
        for k in params:
            params[k][idx] = out[k]
        if nb is not None:
            bufs = bufs or {k: torch.zeros_like(v) for k, v in params.items()}
            for k in bufs:
                bufs[k][idx] = nb[k]
        done, spent = done + chunk, spent + chunk * len(active)
        for i in active:
            check(i)
        if patience is not None:
            active = [i for i in active if since[i] < patience]
        rows.append({"round": float(done), "val_acc": _mean(current), "test_acc": math.nan, "bytes": 0.0, "steps": float(spent)})
    tests = [_acc(template, best_w[i], c.x_test, c.y_test) for i, c in enumerate(clients)]
    return rows, {"val_acc": _mean(best_val), "test_acc": _mean(tests), "steps": float(spent)}


def _sgd(lr: float, momentum: float, weight_decay: float, batch_size: int, grad_clip: float | None) -> dict[str, Any]:
    return {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "batch_size": batch_size, "grad_clip": grad_clip}


@guarded_function
def local_only(
    target: nn.Module,
    clients: Sequence[ClientData],
    *,
    steps: int = 500,
    eval_every: int = 100,
    patience: int | None = None,
    lr: float = 5e-3,
    momentum: float = 0.9,
    weight_decay: float = 5e-5,
    batch_size: int = 64,
    grad_clip: float | None = 50.0,
    seed: int = 0,
) -> BaselineResult:
    """Each client trains its own copy of ``target`` (the same initialisation) on its own data only, for at most
    ``steps`` SGD steps, stopping after ``patience`` validation checks (every ``eval_every`` steps) without
    improvement; it is tested at its best validation check (``result.best``)."""
    clients = as_clients(clients)
    for i, c in enumerate(clients):
        check_client_data(c.x_train, c.y_train, f"client {i}")
    positive_int("steps", steps)
    positive_int("eval_every", eval_every)
    if patience is not None:
        positive_int("patience", patience, hint="or None to train every client for all steps")
    net = _init(target, seed)
    start = {k: v.detach().expand(len(clients), *v.shape) for k, v in net.named_parameters()}
    rows, final = train_personal(
        net, start, clients, steps=steps, eval_every=eval_every, patience=patience,
        sgd=_sgd(lr, momentum, weight_decay, batch_size, grad_clip), seed=seed,
    )  # fmt: skip
    result = BaselineResult(rounds=rows, final={"round": rows[-1]["round"], "bytes": 0.0, **final})
    result.extra["steps"] = final["steps"]
    return result


@guarded_function
def fedavg(
    target: nn.Module,
    clients: Sequence[ClientData],
    rounds: int,
    *,
    clients_per_round: int = 5,
    local_steps: int = 50,
    eval_every: int | None = None,
    finetune_steps: int = 0,
    finetune_eval_every: int = 10,
    finetune_patience: int | None = None,
    lr: float = 5e-3,
    momentum: float = 0.9,
    weight_decay: float = 5e-5,
    batch_size: int = 64,
    grad_clip: float | None = 50.0,
    finetune_lr: float | None = None,
    seed: int = 0,
    train_clients: Sequence[int] | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> BaselineResult:
    """FedAvg (McMahan et al., 2017): a global model, averaged over the sampled clients weighted by their data.

    The global model is validated every ``eval_every`` rounds and tested once, at the best validation
    round. With ``finetune_steps > 0``, every client then fine-tunes that model for at most
    ``finetune_steps`` local steps (lr ``finetune_lr``, default ``lr``), stopping early on its own
    validation split (FedAvg + FT, in ``finetuned``). With ``train_clients``, only those take part and are
    evaluated; the best global model is also tested on the others (``extra["unseen_test_acc"]``).
    ``on_eval`` receives the state after every evaluation (``round``, ``weights``, ``rows``, ``best``); pass
    one back as ``resume`` to continue from it (client sampling and batches depend only on seed and round).
    """
    all_clients = as_clients(clients)
    keep = list(range(len(all_clients))) if train_clients is None else [int(i) for i in train_clients]
    held = [c for i, c in enumerate(all_clients) if i not in set(keep)]
    clients = [all_clients[i] for i in keep]
    for i, c in enumerate(clients):
        check_client_data(c.x_train, c.y_train, f"client {i}")
    positive_int("rounds", rounds)
    positive_int("local_steps", local_steps)
    positive_int("finetune_steps", finetune_steps, zero=True)
    positive_int("finetune_eval_every", finetune_eval_every)
    if not 1 <= clients_per_round <= len(clients):
        raise ConfigError(f"expected clients_per_round in [1, {len(clients)}], got {clients_per_round}; pass a value in that range")
    eval_every = eval_every or max(rounds, 1)
    glob = _init(target, seed)
    names = [n for n, _ in glob.named_parameters()]
    model_bytes = tensor_bytes(dict(glob.named_parameters()))
    weights = {n: p.detach().clone() for n, p in glob.named_parameters()}
    sizes = torch.tensor([float(c.y_train.shape[0]) for c in clients])
    sgd = _sgd(lr, momentum, weight_decay, batch_size, grad_clip)
    result = BaselineResult()
    best: tuple[float, dict[str, float], Weights] | None = None
    first = 1
    if resume is not None:
        first, weights = int(resume["round"]) + 1, dict(resume["weights"])
        result.rounds = [dict(row) for row in resume["rows"]]
        if resume.get("best") is not None:
            b_row = next(row for row in result.rounds if row["round"] == resume["best"][0])
            best = (b_row["val_acc"], b_row, dict(resume["best"][1]))
    for r in range(first, rounds + 1):
        ids = sorted(int(i) for i in np.random.default_rng([seed, r, 7919]).choice(len(clients), size=clients_per_round, replace=False))
        pool = ClientPool([(clients[i].x_train, clients[i].y_train) for i in ids])
        start = {n: v.expand(len(ids), *v.shape) for n, v in weights.items()}
        seeds = [seed * 100_003 + r * 1009 + i for i in ids]
        out, _, _ = batched_local_sgd(glob, start, pool, list(range(len(ids))), seeds=seeds, steps=local_steps, **sgd)
        share = sizes[ids] / sizes[ids].sum()
        weights = {n: torch.einsum("c,c...->...", share, out[n]) for n in names}
        if r % eval_every == 0 or r == rounds:
            val = _mean([_acc(glob, weights, c.x_val, c.y_val) for c in clients])
            row = {"round": float(r), "val_acc": val, "test_acc": math.nan, "bytes": 2.0 * model_bytes,
                   "steps": float(r * clients_per_round * local_steps)}  # fmt: skip
            result.rounds.append(row)
            if best is None or val > best[0] or math.isnan(best[0]):
                best = (val, row, {n: v.clone() for n, v in weights.items()})
            if on_eval is not None:
                on_eval({"round": r, "weights": weights, "rows": result.rounds, "best": (best[1]["round"], best[2])})
    assert best is not None
    best_w = result.best_weights = best[2]
    best[1]["test_acc"] = _mean([_acc(glob, best_w, c.x_test, c.y_test) for c in clients])
    result.extra["steps"] = float(rounds * clients_per_round * local_steps)
    if held:
        result.extra["unseen_test_acc"] = _mean([_acc(glob, best_w, c.x_test, c.y_test) for c in held])
    if finetune_steps > 0:
        start = {n: v.expand(len(clients), *v.shape) for n, v in best_w.items()}
        ft_sgd = {**sgd, "lr": lr if finetune_lr is None else finetune_lr}
        result.finetune_rounds, result.finetuned = train_personal(
            glob,
            start,
            clients,
            steps=finetune_steps,
            eval_every=finetune_eval_every,
            patience=finetune_patience,
            sgd=ft_sgd,
            seed=seed + 7,
        )
    return result
