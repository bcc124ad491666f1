"""Local SGD of many clients as one batched computation: ``torch.func.vmap`` over clients.

Each client has its own weights, its own data and its own mini-batches; one step of every
client is one ``vmap``-ed ``functional_call`` of the shared architecture with its gradient
(``torch.func.grad``), then an elementwise SGD update of the stacked ``(C, ...)`` weights.
No Python loop runs over clients inside a step. With the same seeds the result equals
:func:`~hypernet.recipes.federated._client.local_sgd` run client by client (same batches,
same momentum, weight decay and gradient clipping as ``torch.optim.SGD`` and
``clip_grad_norm_``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> pool = ClientPool([(torch.randn(20, 3), torch.arange(20) % 2), (torch.randn(9, 3), torch.arange(9) % 2)])
    >>> w = {n: p.detach().expand(2, *p.shape) for n, p in nn.Linear(3, 2).named_parameters()}
    >>> out, loss, _ = batched_local_sgd(nn.Linear(3, 2), w, pool, [0, 1], seeds=[0, 1], steps=3, lr=0.1, momentum=0.9,
    ...                                  weight_decay=0.0, batch_size=8, grad_clip=None)
    >>> out["weight"].shape, loss.shape
    (torch.Size([2, 2, 3]), torch.Size([2]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

Weights = dict[str, torch.Tensor]


class ClientPool:
    """Every client's training data concatenated once, so a step gathers all clients' batches with one index.

    Args:
        data: ``(x, y)`` of each client, in client-id order.
    """

    def __init__(self, data: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        sizes = [int(y.shape[0]) for _, y in data]
        self.x = torch.cat([x.reshape(x.shape[0], *data[0][0].shape[1:]) for x, _ in data])
        self.y = torch.cat([y for _, y in data])
        self.sizes = torch.tensor(sizes)
        self.offsets = torch.cumsum(torch.tensor([0, *sizes[:-1]]), 0)

    def batches(self, ids: Sequence[int], seeds: Sequence[int], steps: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of :attr:`x` for each step and client ``(steps, C, B)`` and their mask ``(steps, C, B)``.

        Client ``ids[j]`` draws ``randperm(n)[:min(batch_size, n)]`` each step from a generator
        seeded with ``seeds[j]`` (the batches of ``local_sgd``); shorter batches are padded and masked.
        """
        width = min(batch_size, int(self.sizes[list(ids)].max()))
        rows = torch.zeros(steps, len(ids), width, dtype=torch.long)
        mask = torch.zeros(steps, len(ids), width)
        for j, (c, seed) in enumerate(zip(ids, seeds, strict=True)):  # index drawing only; the SGD below is batched
            n, gen = int(self.sizes[c]), torch.Generator().manual_seed(int(seed))
            b = min(batch_size, n)
            for s in range(steps):
                rows[s, j, :b] = torch.randperm(n, generator=gen)[:b] + self.offsets[c]
                mask[s, j, :b] = 1.0
        return rows, mask


def batched_local_sgd(
    template: nn.Module,
    weights: Mapping[str, torch.Tensor],
    pool: ClientPool,
    ids: Sequence[int],
    *,
    seeds: Sequence[int],
    steps: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch_size: int,
    grad_clip: float | None,
    momentum_buffers: Mapping[str, torch.Tensor] | None = None,
) -> tuple[Weights, torch.Tensor, Weights | None]:
    """``steps`` SGD steps of clients ``ids`` together, from stacked weights ``(C, *shape)``.

    Returns the trained stacked weights, each client's mean training loss ``(C,)`` and the
    momentum buffers (pass them back to continue training with the same optimizer state).
    ``template`` must hold no buffers (its parameters are replaced; use ``local_sgd`` for BatchNorm).
    """
    names = list(weights)
    params = {n: weights[n].detach().clone() for n in names}
    bufs = None if momentum_buffers is None else {n: momentum_buffers[n].clone() for n in names}
    rows, mask = pool.batches(ids, seeds, steps, batch_size)

    def loss_fn(p: Weights, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(template, p, (x,), strict=True)
        return (nn.functional.cross_entropy(out, y, reduction="none") * m).sum() / m.sum()

    step_fn = torch.func.vmap(torch.func.grad_and_value(loss_fn))
    total = torch.zeros(len(ids))
    was_training = template.training
    template.train()
    try:
        for s in range(steps):
            grads, loss = step_fn(params, pool.x[rows[s]], pool.y[rows[s]], mask[s])
            total += loss.detach()
            if grad_clip is not None:  # clip_grad_norm_ per client
                norms = torch.stack([g.reshape(len(ids), -1).pow(2).sum(1) for g in grads.values()]).sum(0).sqrt()
                coef = (grad_clip / (norms + 1e-6)).clamp(max=1.0)
                grads = {n: g * coef.reshape(-1, *([1] * (g.dim() - 1))) for n, g in grads.items()}
            with torch.no_grad():
                for n in names:
                    d = grads[n] + weight_decay * params[n] if weight_decay else grads[n]
                    if momentum:
                        d = d.clone() if bufs is None or n not in bufs else bufs[n].mul_(momentum).add_(d)
                        bufs = {} if bufs is None else bufs
                        bufs[n] = d
                    params[n] = params[n] - lr * d
    finally:
        template.train(was_training)
    return params, total / max(steps, 1), bufs


def has_buffers(module: nn.Module) -> bool:
    """Whether ``module`` holds buffers (then clients are trained one by one)."""
    return any(True for _ in module.buffers())
