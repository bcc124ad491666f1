"""``federated`` section of ``benchmarks/perf.py``: one pFedHN round of C clients, batched against sequential.

One ``FederatedHypernet.server_round`` at pFedHN's settings (LeNet 16/32 kernels, fc 120-84 on 28x28 grey
images, 50 local SGD steps of batch 64 per client, hypernetwork MLP 4 x 100) with C = 1, 10 and 50
clients of 1,000 synthetic images each: (a) the in-process exchange batched over clients (one
``torch.func.vmap`` over clients per local step, :meth:`FederatedHypernet.client_updates`) against
(b) the same exchange with ``batched=False`` (clients one after another, ``torch.optim.SGD``).
Both include generating the weights and the server's backward and optimizer step.

Run alone: ``python benchmarks/perf.py --sections federated --output perf_federated --reps 3``
(writes results/perf_federated.{csv,md}; a sequential round of 50 clients takes about a minute).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from perf import Row, measure

import hypernet as hn
from hypernet.recipes.federated import ClientData, SmallCNN

CLIENTS = (1, 10, 50)
SECTION = "federated one pFedHN round (LeNet 16/32, 50 local steps x batch 64)"
VARIANTS = {"a": "(a) batched over clients (vmap)", "b": "(b) clients one by one"}
CLAIMS = [("federated: one round of 10 clients, (b) sequential / (a) batched", ">= 4", f"C=10 {VARIANTS['b']}", f"C=10 {VARIANTS['a']}")]


def _clients(n: int, size: int = 1000) -> list[ClientData]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        x, y = torch.rand(size, 784, generator=g), torch.randint(0, 10, (size,), generator=g)
        out.append(ClientData.from_arrays(x, y, x[:10], y[:10]))
    return out


def _round(fed: hn.FederatedHypernet, ids: list[int], clients: list[ClientData], batched: bool) -> Callable[[], object]:
    exchange = fed.local_exchange(clients, batched=batched)
    return lambda: fed.server_round(ids, exchange)


def section_federated(reps: int) -> list[Row]:
    """Median round time (ms) of each C and variant; ``reps`` capped at 3 (1 for C = 50, no warm-up): rounds are long."""
    rows: list[Row] = []
    for c in CLIENTS:
        clients = _clients(c)
        feds = {}
        for key in VARIANTS:
            torch.manual_seed(0)
            feds[key] = hn.FederatedHypernet(
                SmallCNN(16), num_clients=c, clients_per_round=c, generator_kwargs={"hidden": (100, 100, 100, 100)}, seed=0
            )
        ids = list(range(c))
        fns = {
            f"C={c} {VARIANTS['a']}": _round(feds["a"], ids, clients, batched=True),
            f"C={c} {VARIANTS['b']}": _round(feds["b"], ids, clients, batched=False),
        }
        res = measure(fns, min(reps, 1 if c >= 50 else 3), warmup=0 if c >= 50 else 1)
        rows += [Row(SECTION, k, *v, {"clients": c, "threads": torch.get_num_threads()}) for k, v in res.items()]
        print({k: round(v[0]) for k, v in res.items()}, flush=True)
    return rows
