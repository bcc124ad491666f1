"""A Flower app running hn.FederatedHypernet (pFedHN / PeFLL) on Fashion-MNIST clients.

Each SuperNode is one client: ``node_config["partition-id"]`` picks its part of a seeded
pathological split (in a real deployment, point ``load_data`` at the node's own files). The
server and the clients build the same FederatedHypernet from the run config.
"""

from __future__ import annotations

from typing import Any

import torch

import hypernet as hn
from hypernet.data.fashion_mnist import load_fashion_mnist
from hypernet.recipes.federated import pathological_partition
from hypernet.recipes.federated import SmallCNN
from hypernet.recipes.federated.flower import client_app, server_app


def build(context: Any) -> hn.FederatedHypernet:
    cfg = context.run_config
    torch.manual_seed(int(cfg["seed"]))
    return hn.FederatedHypernet(
        SmallCNN(n_kernels=8, hidden=(64, 32)),
        num_clients=int(cfg["num-clients"]),
        embedding=str(cfg["embedding"]),  # type: ignore[arg-type]
        x_dim=784,
        n_classes=10,
        inner_steps=int(cfg["inner-steps"]),
        optimizer="adam",
        lr=float(cfg["lr"]),
        clients_per_round=int(cfg["clients-per-round"]),
        seed=int(cfg["seed"]),
    )


def load_data(cid: int, context: Any) -> Any:
    data = load_fashion_mnist()  # the node's local copy (`hypernet data fetch fashion-mnist`)
    n = int(context.run_config["num-clients"])
    return pathological_partition(data.x_train, data.y_train, data.x_test, data.y_test, n, 2, seed=int(context.run_config["seed"]))[cid]


server = server_app(build)
client = client_app(build, load_data)
