"""Personalised federated learning with a server-side hypernetwork (pFedHN, PeFLL), baselines and partitioners.

``hn.FederatedHypernet`` is the recipe; :mod:`.flower` (optional extra ``[federated]``) runs
it on Flower. Nothing here imports flwr.
"""

from ._baselines import BaselineResult, fedavg, local_only, train_personal
from ._cnn import SmallCNN
from ._partition import ClientData, dirichlet_partition, pathological_partition
from .federated_hypernet import FederatedHypernet, History, accuracy, tensor_bytes

__all__ = [
    "BaselineResult",
    "ClientData",
    "FederatedHypernet",
    "History",
    "SmallCNN",
    "accuracy",
    "dirichlet_partition",
    "fedavg",
    "local_only",
    "pathological_partition",
    "tensor_bytes",
    "train_personal",
]
