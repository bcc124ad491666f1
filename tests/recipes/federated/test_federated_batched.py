"""Batched client updates (one vmap over clients per SGD step) equal client-by-client local SGD."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.federated import ClientData, SmallCNN


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _clients() -> list[ClientData]:
    """Three clients of 40, 13 and 7 training images (the last two smaller than a batch: padded and masked)."""
    g = torch.Generator().manual_seed(0)
    out = []
    for n in (40, 13, 7):
        x, y = torch.rand(n, 1, 16, 16, generator=g), torch.randint(0, 3, (n,), generator=g)
        out.append(ClientData.from_arrays(x, y, x[:4], y[:4]))
    return out


def _fed(**kw: Any) -> hn.FederatedHypernet:
    torch.manual_seed(0)
    args: dict[str, Any] = {
        "inner_steps": 6, "inner_lr": 0.2, "inner_momentum": 0.9, "inner_weight_decay": 1e-2, "inner_grad_clip": 0.5,
        "batch_size": 16, "generator_kwargs": {"hidden": (8,)}, "clients_per_round": 3, "seed": 0,
    }  # fmt: skip
    args.update(kw)
    return hn.FederatedHypernet(SmallCNN(n_kernels=2, n_classes=3, hidden=(6, 5), side=16), num_clients=3, **args)


def test_batched_updates_equal_sequential_updates() -> None:
    """The same weights, data and seeds: every client's delta and loss agree to 1e-5 (clipping active, momentum, decay)."""
    fed, clients = _fed(), _clients()
    weights = {c: {n: w.detach() for n, w in fed.generated(c).items()} for c in range(3)}
    seeds = {0: 11, 1: 12, 2: 13}
    got = fed.client_updates(weights, {c: clients[c] for c in range(3)}, seeds=seeds)
    for c in range(3):
        want = fed.client_update(weights[c], clients[c], seed=seeds[c])
        assert abs(got[c]["loss"] - want["loss"]) < 1e-5
        assert got[c]["num_examples"] == want["num_examples"]
        for n in fed.names:
            torch.testing.assert_close(got[c]["delta"][n], want["delta"][n], rtol=0, atol=1e-5, msg=f"client {c} {n}")
        assert max(float(d.abs().max()) for d in want["delta"].values()) > 1e-2, "local training moved nothing"


def test_batched_round_equals_sequential_round_and_runs_the_target_once_per_step() -> None:
    """A server round of 3 clients with the batched exchange: the same hypernetwork as with clients one by one;
    the target's forward runs once per local step for all clients together (no loop over clients)."""
    clients = _clients()
    batched, sequential = _fed(), _fed()
    calls = []
    batched._template.register_forward_hook(lambda *_: calls.append(1))
    for _ in range(2):
        batched.server_round([0, 1, 2], batched.local_exchange(clients))
        sequential.server_round([0, 1, 2], sequential.local_exchange(clients, batched=False))
    assert len(calls) == 2 * 6
    for (name, a), b in zip(batched.model.state_dict().items(), sequential.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)
    assert not torch.equal(batched.model.condition.table, _fed().model.condition.table)


def test_client_model_with_buffers_is_trained_one_by_one() -> None:
    """BatchNorm keeps per-model running stats: such clients are trained sequentially, with the same replies."""
    torch.manual_seed(0)
    target = nn.Sequential(nn.Flatten(), nn.Linear(256, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    fed = hn.FederatedHypernet(target, num_clients=3, inner_steps=2, clients_per_round=2, generator_kwargs={"hidden": (8,)})
    clients = _clients()
    weights = {c: {n: w.detach() for n, w in fed.generated(c).items()} for c in (0, 1)}
    got = fed.client_updates(weights, {0: clients[0], 1: clients[1]}, seeds={0: 1, 1: 2})
    want = fed.client_update(weights[1], clients[1], seed=2)
    for n in fed.names:
        torch.testing.assert_close(got[1]["delta"][n], want["delta"][n], rtol=0, atol=0)


def test_client_updates_bad_input() -> None:
    fed, clients = _fed(), _clients()
    w = {n: v.detach() for n, v in fed.generated(0).items()}
    with pytest.raises(hn.ConfigError, match="same client ids"):
        fed.client_updates({0: w}, {1: clients[1]}, seeds={0: 0})
    with pytest.raises(hn.ConfigError, match=r"weights\['conv1.weight'\] as a tensor of shape \(2, 1, 5, 5\)"):
        fed.client_updates({0: {**w, "conv1.weight": torch.zeros(3)}}, {0: clients[0]}, seeds={0: 0})
    with pytest.raises(hn.ConfigError, match="mappings"):
        fed.client_updates([w], [clients[0]], seeds=[0])  # type: ignore[arg-type]
    before = copy.deepcopy(fed.model.state_dict())
    with pytest.raises(hn.ConfigError, match="reply"):
        fed.server_round([0, 1, 2], lambda m: {c: {"loss": 0.0} for c in m})
    for k, v in fed.model.state_dict().items():
        assert torch.equal(v, before[k]), k
