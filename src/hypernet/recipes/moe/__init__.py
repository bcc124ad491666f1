"""Mixture-of-experts layers from hypernetworks: HMOE (generated experts) and HyperRouter (generated router).

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    >>> swap_mlp(layer, num_experts=4, top_k=2, experts="hyper")
    ['']
    >>> layer(torch.randn(2, 3, 16)).shape
    torch.Size([2, 3, 16])
"""

from .hyper_moe import HyperMoE
from .swap import balance_loss, moe_layers, swap_mlp

__all__ = ["HyperMoE", "balance_loss", "moe_layers", "swap_mlp"]
