"""Top-k routing and batched expert dispatch: tokens grouped per expert, no loop over tokens.

Each (token, slot) pair of the top-k choice is sorted by expert. Two exact ways run the experts:

* ``padded``: the pairs are scattered into a ``(E, C, d)`` grid (C = the largest group) and the
  expert is vmapped over E (a batched matmul for an MLP). Padding rows repeat a real row and
  their outputs are discarded, so they get no gradient.
* ``loop``: a loop over the E experts (never over tokens), each running on its own contiguous
  slice of the sorted pairs; an expert that no token chose is never run.

``auto`` takes ``padded`` while padding at most doubles the rows (balanced routing), else
``loop`` (a collapsed router would make the grid E times larger than the work).

Example:
    >>> import torch
    >>> idx = torch.tensor([[0, 1], [1, 2], [1, 0]])
    >>> plan = group_by_expert(idx, 3)
    >>> plan.sizes.tolist(), plan.token.tolist()
    ([2, 3, 1], [0, 2, 0, 1, 2, 1])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

Params = dict[str, torch.Tensor]
ExpertCall = Callable[[Params, torch.Tensor], torch.Tensor]
DISPATCH = ("auto", "padded", "loop")
Dispatch = Literal["auto", "padded", "loop"]


@dataclass(frozen=True)
class Plan:
    """The (token, slot) pairs sorted by expert.

    Attributes:
        order: ``(N * k,)`` indices into the flattened ``(N, k)`` choice, sorted by expert (stable).
        token: the token of each sorted pair.
        sizes: ``(E,)`` pairs per expert.
    """

    order: torch.Tensor
    token: torch.Tensor
    sizes: torch.Tensor


def group_by_expert(idx: torch.Tensor, num_experts: int) -> Plan:
    """Sort the ``(N, k)`` expert choices by expert."""
    flat = idx.reshape(-1)
    order = torch.argsort(flat, stable=True)
    return Plan(order=order, token=order // idx.shape[1], sizes=torch.bincount(flat, minlength=num_experts))


def _padded(call: ExpertCall, params: Params, xs: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    n, e = xs.shape[0], sizes.numel()
    group = int(sizes.max())
    starts = torch.cumsum(sizes, 0) - sizes
    expert = torch.repeat_interleave(torch.arange(e, device=xs.device), sizes)
    slots = expert * group + (torch.arange(n, device=xs.device) - starts[expert])
    source = torch.zeros(e * group, dtype=torch.long, device=xs.device).index_copy(0, slots, torch.arange(n, device=xs.device))
    grid = xs.index_select(0, source).view(e, group, xs.shape[1])
    out = torch.func.vmap(call)(params, grid)
    return out.flatten(0, 1).index_select(0, slots)


def _loop(call: ExpertCall, params: Params, xs: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    outs = []
    for e, part in enumerate(xs.split(sizes.tolist())):
        if part.shape[0]:
            outs.append(call({k: v[e] for k, v in params.items()}, part))
    return torch.cat(outs)


def run_experts(
    call: ExpertCall, params: Params, x: torch.Tensor, idx: torch.Tensor, gates: torch.Tensor, how: Dispatch = "auto"
) -> torch.Tensor:
    """``sum_j gates[n, j] * expert_{idx[n, j]}(x[n])`` for every token n, each token meeting only its k experts.

    Args:
        call: ``call(params_of_one_expert, rows) -> outputs`` (rows ``(m, d_in)`` -> ``(m, d_out)``).
        params: every tensor stacked over experts, ``(E, *shape)``.
        x: ``(N, d_in)`` tokens.
        idx: ``(N, k)`` chosen experts; gates: ``(N, k)`` their weights.
        how: ``"auto"``, ``"padded"`` or ``"loop"`` (same result).
    """
    num_experts = next(iter(params.values())).shape[0]
    plan = group_by_expert(idx, num_experts)
    xs = x.index_select(0, plan.token)
    pairs = xs.shape[0]
    if how == "auto":
        how = "padded" if num_experts * int(plan.sizes.max()) <= 2 * pairs else "loop"
    ys = (_padded if how == "padded" else _loop)(call, params, xs, plan.sizes)
    ys = ys * gates.reshape(-1).index_select(0, plan.order).unsqueeze(1).to(ys.dtype)
    return ys.new_zeros(x.shape[0], ys.shape[1]).index_add(0, plan.token, ys)
