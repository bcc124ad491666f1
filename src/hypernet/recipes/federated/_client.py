"""Client-side work: local SGD from received weights, and the PeFLL embedding steps.

Everything here runs where the data lives; what it returns (weight deltas, a client
descriptor vector, encoder gradients) is all that leaves the client.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from ...errors import ConfigError, describe


def check_client_data(x: torch.Tensor, y: torch.Tensor, who: str = "client") -> None:
    """Raise :class:`~hypernet.ConfigError` unless ``x`` (N, ...) and integer ``y`` (N,) hold at least one sample."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ConfigError(f"expected {who} data as tensors x (N, ...) and y (N,), got {describe(x)} and {describe(y)}; pass torch tensors")
    if y.dim() != 1 or x.shape[0] != y.shape[0] or y.dtype.is_floating_point:
        raise ConfigError(
            f"expected {who} x (N, ...) and integer y (N,) with the same N, got x {describe(x)} and y {describe(y)}; "
            "pass integer labels, one per sample"
        )
    if y.numel() == 0:
        raise ConfigError(f"expected training samples for {who}, got none (empty client); drop it or give it data")


def local_sgd(
    template: nn.Module,
    weights: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch_size: int,
    grad_clip: float | None,
    seed: int,
) -> tuple[nn.Module, float]:
    """A copy of ``template`` loaded with ``weights``, trained for ``steps`` SGD steps on random batches of (x, y).

    Returns the trained copy and the mean training loss. Batches are drawn with a
    generator seeded by ``seed``, so the result depends only on the arguments.
    """
    net = copy.deepcopy(template)
    with torch.no_grad():
        for name, value in weights.items():
            net.get_parameter(name).copy_(value)
    for p in net.parameters():
        p.requires_grad_(True)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = y.shape[0]
    total = 0.0
    for _ in range(steps):
        idx = torch.randperm(n, generator=gen)[: min(batch_size, n)]
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        opt.step()
        total += float(loss.detach())
    return net, total / max(steps, 1)


def embed_subset(x: torch.Tensor, y: torch.Tensor, samples: int, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows the client embeds: a seeded random subset of ``samples`` rows (the first ``samples`` if ``seed`` is None), flattened."""
    n = y.shape[0]
    if seed is None:
        idx = torch.arange(min(samples, n))
    else:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(samples, n)]
    return x[idx].reshape(len(idx), -1), y[idx]
